package bfd

import (
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// A BFD Control packet (RFC 5880 §4.1):
//
//	 0                   1                   2                   3
//	 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|Vers |  Diag   |Sta|P|F|C|A|D|M|  Detect Mult  |    Length     |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                       My Discriminator                        |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                      Your Discriminator                       |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                    Desired Min TX Interval                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                   Required Min RX Interval                    |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//	|                 Required Min Echo RX Interval                 |
//	+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//
// followed, when A is set, by the authentication section (§4.2–4.4):
//
//	|   Auth Type   |   Auth Len    |  Auth Key ID  |  ...
//
// simple password: the password (1–16 bytes) follows the key id;
// keyed/meticulous MD5 and SHA1: one reserved byte, a 32-bit sequence number
// and the 16 (MD5) or 20 (SHA1) byte digest.

// Sentinel errors returned by Unmarshal; wrap-checked with errors.Is.
var (
	ErrShort             = errors.New("bfd: packet shorter than 24 bytes")
	ErrVersion           = errors.New("bfd: version is not 1")
	ErrLength            = errors.New("bfd: length field inconsistent with payload")
	ErrDetectMult        = errors.New("bfd: detect multiplier is zero")
	ErrMultipoint        = errors.New("bfd: multipoint bit is set")
	ErrMyDiscriminator   = errors.New("bfd: my discriminator is zero")
	ErrYourDiscriminator = errors.New("bfd: your discriminator is zero while state is init or up")
	ErrAuthSection       = errors.New("bfd: malformed authentication section")
)

const (
	// Version is the BFD protocol version this package speaks.
	Version = 1
	// HeaderLen is the length of the mandatory section of a Control packet.
	HeaderLen = 24
	// MaxPacketLen bounds a Control packet with the largest auth section.
	MaxPacketLen = HeaderLen + 28
)

// State is a BFD session state (RFC 5880 §4.1).
type State uint8

// The four session states, with their wire values.
const (
	StateAdminDown State = 0
	StateDown      State = 1
	StateInit      State = 2
	StateUp        State = 3
)

// String returns the lowercase name used in logs, metrics and status output.
func (s State) String() string {
	switch s {
	case StateAdminDown:
		return "admin_down"
	case StateDown:
		return "down"
	case StateInit:
		return "init"
	case StateUp:
		return "up"
	}
	return fmt.Sprintf("state_%d", uint8(s))
}

// Diag is a BFD diagnostic code (RFC 5880 §4.1).
type Diag uint8

// Diagnostic codes.
const (
	DiagNone                  Diag = 0
	DiagControlDetectExpired  Diag = 1
	DiagEchoFailed            Diag = 2
	DiagNeighborSignaledDown  Diag = 3
	DiagForwardingPlaneReset  Diag = 4
	DiagPathDown              Diag = 5
	DiagConcatenatedPathDown  Diag = 6
	DiagAdministrativelyDown  Diag = 7
	DiagReverseConcatPathDown Diag = 8
)

// String returns the lowercase snake_case name of the diagnostic.
func (d Diag) String() string {
	switch d {
	case DiagNone:
		return "none"
	case DiagControlDetectExpired:
		return "control_detection_time_expired"
	case DiagEchoFailed:
		return "echo_function_failed"
	case DiagNeighborSignaledDown:
		return "neighbor_signaled_session_down"
	case DiagForwardingPlaneReset:
		return "forwarding_plane_reset"
	case DiagPathDown:
		return "path_down"
	case DiagConcatenatedPathDown:
		return "concatenated_path_down"
	case DiagAdministrativelyDown:
		return "administratively_down"
	case DiagReverseConcatPathDown:
		return "reverse_concatenated_path_down"
	}
	return fmt.Sprintf("diag_%d", uint8(d))
}

// AuthType is the authentication type of the auth section (RFC 5880 §4.1).
type AuthType uint8

// Authentication types.
const (
	AuthNone             AuthType = 0
	AuthSimplePassword   AuthType = 1
	AuthKeyedMD5         AuthType = 2
	AuthMeticulousMD5    AuthType = 3
	AuthKeyedSHA1        AuthType = 4
	AuthMeticulousSHA1   AuthType = 5
	sha1AuthLen                   = 28
	md5AuthLen                    = 24
	maxPasswordLen                = 16
	authDigestOffset              = 8 // within the auth section
	sha1DigestLen                 = sha1.Size
	simplePasswordHdrLen          = 3
)

// String names the authentication type.
func (a AuthType) String() string {
	switch a {
	case AuthNone:
		return "none"
	case AuthSimplePassword:
		return "simple_password"
	case AuthKeyedMD5:
		return "keyed_md5"
	case AuthMeticulousMD5:
		return "meticulous_keyed_md5"
	case AuthKeyedSHA1:
		return "keyed_sha1"
	case AuthMeticulousSHA1:
		return "meticulous_keyed_sha1"
	}
	return fmt.Sprintf("auth_%d", uint8(a))
}

// Auth is a parsed authentication section. Password is set for simple
// password; Sequence and Digest for the keyed types.
type Auth struct {
	Type     AuthType
	KeyID    uint8
	Password []byte
	Sequence uint32
	Digest   []byte
}

// Packet is a decoded BFD Control packet. Intervals are carried on the wire
// in microseconds.
type Packet struct {
	Diag              Diag
	State             State
	Poll              bool
	Final             bool
	CPI               bool // control plane independent
	Demand            bool
	Multipoint        bool
	DetectMult        uint8
	MyDiscriminator   uint32
	YourDiscriminator uint32
	DesiredMinTx      time.Duration
	RequiredMinRx     time.Duration
	RequiredMinEchoRx time.Duration
	Auth              *Auth // nil when the A bit is clear
}

// Unmarshal decodes and validates a Control packet following the reception
// checks of RFC 5880 §6.8.6 that need no session state.
func Unmarshal(b []byte) (Packet, error) {
	var p Packet
	if len(b) < HeaderLen {
		return p, ErrShort
	}
	if v := b[0] >> 5; v != Version {
		return p, fmt.Errorf("%w (got %d)", ErrVersion, v)
	}
	p.Diag = Diag(b[0] & 0x1f)
	flags := b[1]
	p.State = State(flags >> 6)
	p.Poll = flags&0x20 != 0
	p.Final = flags&0x10 != 0
	p.CPI = flags&0x08 != 0
	authPresent := flags&0x04 != 0
	p.Demand = flags&0x02 != 0
	p.Multipoint = flags&0x01 != 0
	p.DetectMult = b[2]
	length := int(b[3])
	minLen := HeaderLen
	if authPresent {
		minLen = HeaderLen + 2
	}
	if length < minLen || length > len(b) {
		return p, fmt.Errorf("%w (length %d, payload %d)", ErrLength, length, len(b))
	}
	p.MyDiscriminator = binary.BigEndian.Uint32(b[4:])
	p.YourDiscriminator = binary.BigEndian.Uint32(b[8:])
	p.DesiredMinTx = usec(binary.BigEndian.Uint32(b[12:]))
	p.RequiredMinRx = usec(binary.BigEndian.Uint32(b[16:]))
	p.RequiredMinEchoRx = usec(binary.BigEndian.Uint32(b[20:]))
	switch {
	case p.DetectMult == 0:
		return p, ErrDetectMult
	case p.Multipoint:
		return p, ErrMultipoint
	case p.MyDiscriminator == 0:
		return p, ErrMyDiscriminator
	case p.YourDiscriminator == 0 && p.State != StateDown && p.State != StateAdminDown:
		return p, ErrYourDiscriminator
	}
	if authPresent {
		a, err := parseAuth(b[HeaderLen:length])
		if err != nil {
			return p, err
		}
		p.Auth = a
	} else if length != HeaderLen {
		return p, fmt.Errorf("%w (length %d without auth)", ErrLength, length)
	}
	return p, nil
}

func parseAuth(b []byte) (*Auth, error) {
	if len(b) < 2 {
		return nil, ErrAuthSection
	}
	a := &Auth{Type: AuthType(b[0])}
	alen := int(b[1])
	if alen != len(b) {
		return nil, fmt.Errorf("%w: auth len %d, section %d", ErrAuthSection, alen, len(b))
	}
	switch a.Type {
	case AuthSimplePassword:
		if alen < simplePasswordHdrLen+1 || alen > simplePasswordHdrLen+maxPasswordLen {
			return nil, fmt.Errorf("%w: password auth len %d", ErrAuthSection, alen)
		}
		a.KeyID = b[2]
		a.Password = append([]byte(nil), b[3:alen]...)
	case AuthKeyedMD5, AuthMeticulousMD5, AuthKeyedSHA1, AuthMeticulousSHA1:
		want := sha1AuthLen
		if a.Type == AuthKeyedMD5 || a.Type == AuthMeticulousMD5 {
			want = md5AuthLen
		}
		if alen != want {
			return nil, fmt.Errorf("%w: %s auth len %d, want %d", ErrAuthSection, a.Type, alen, want)
		}
		a.KeyID = b[2]
		a.Sequence = binary.BigEndian.Uint32(b[4:])
		a.Digest = append([]byte(nil), b[authDigestOffset:alen]...)
	default:
		return nil, fmt.Errorf("%w: unknown auth type %d", ErrAuthSection, a.Type)
	}
	return a, nil
}

// Marshal encodes p. Version and Length are derived; a keyed digest is
// written as given (see signSHA1 for computing it).
func (p *Packet) Marshal() ([]byte, error) {
	return p.AppendBinary(make([]byte, 0, MaxPacketLen))
}

// AppendBinary appends the encoding of p to b.
func (p *Packet) AppendBinary(b []byte) ([]byte, error) {
	if p.State > StateUp || p.Diag > 0x1f {
		return b, fmt.Errorf("encode bfd packet: state %d or diag %d out of range", p.State, p.Diag)
	}
	length := HeaderLen
	var authBytes []byte
	if p.Auth != nil {
		var err error
		if authBytes, err = p.Auth.encode(); err != nil {
			return b, err
		}
		length += len(authBytes)
	}
	flags := byte(p.State) << 6
	for _, f := range []struct {
		on  bool
		bit byte
	}{{p.Poll, 0x20}, {p.Final, 0x10}, {p.CPI, 0x08}, {p.Auth != nil, 0x04}, {p.Demand, 0x02}, {p.Multipoint, 0x01}} {
		if f.on {
			flags |= f.bit
		}
	}
	b = append(b, Version<<5|byte(p.Diag), flags, p.DetectMult, byte(length))
	b = binary.BigEndian.AppendUint32(b, p.MyDiscriminator)
	b = binary.BigEndian.AppendUint32(b, p.YourDiscriminator)
	b = binary.BigEndian.AppendUint32(b, toUsec(p.DesiredMinTx))
	b = binary.BigEndian.AppendUint32(b, toUsec(p.RequiredMinRx))
	b = binary.BigEndian.AppendUint32(b, toUsec(p.RequiredMinEchoRx))
	return append(b, authBytes...), nil
}

func (a *Auth) encode() ([]byte, error) {
	switch a.Type {
	case AuthSimplePassword:
		if len(a.Password) < 1 || len(a.Password) > maxPasswordLen {
			return nil, fmt.Errorf("encode bfd auth: password length %d not in 1..16: %w", len(a.Password), ErrAuthSection)
		}
		out := []byte{byte(a.Type), byte(simplePasswordHdrLen + len(a.Password)), a.KeyID}
		return append(out, a.Password...), nil
	case AuthKeyedMD5, AuthMeticulousMD5, AuthKeyedSHA1, AuthMeticulousSHA1:
		n, dl := sha1AuthLen, sha1DigestLen
		if a.Type == AuthKeyedMD5 || a.Type == AuthMeticulousMD5 {
			n, dl = md5AuthLen, 16
		}
		out := make([]byte, n)
		out[0], out[1], out[2] = byte(a.Type), byte(n), a.KeyID
		binary.BigEndian.PutUint32(out[4:], a.Sequence)
		copy(out[authDigestOffset:authDigestOffset+dl], a.Digest)
		return out, nil
	}
	return nil, fmt.Errorf("encode bfd auth: type %d: %w", a.Type, ErrAuthSection)
}

// signSHA1 fills the digest of an encoded keyed-SHA1 packet (RFC 5880
// §6.7.4): the hash covers the packet with the key, zero-padded to 20 bytes,
// in place of the digest.
func signSHA1(pkt, key []byte) {
	d := pkt[HeaderLen+authDigestOffset : HeaderLen+authDigestOffset+sha1DigestLen]
	clear(d)
	copy(d, key)
	sum := sha1.Sum(pkt)
	copy(d, sum[:])
}

// verifySHA1 checks the digest of an encoded keyed-SHA1 packet without
// modifying it.
func verifySHA1(pkt, key []byte) bool {
	if len(pkt) < HeaderLen+sha1AuthLen {
		return false
	}
	c := append([]byte(nil), pkt[:HeaderLen+sha1AuthLen]...)
	got := append([]byte(nil), c[HeaderLen+authDigestOffset:HeaderLen+authDigestOffset+sha1DigestLen]...)
	signSHA1(c, key)
	return subtle.ConstantTimeCompare(got, c[HeaderLen+authDigestOffset:HeaderLen+authDigestOffset+sha1DigestLen]) == 1
}

func usec(v uint32) time.Duration { return time.Duration(v) * time.Microsecond }

func toUsec(d time.Duration) uint32 {
	u := d / time.Microsecond
	switch {
	case u < 0:
		return 0
	case u > math.MaxUint32:
		return math.MaxUint32
	}
	return uint32(u)
}

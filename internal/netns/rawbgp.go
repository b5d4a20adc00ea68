package netns

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Outcome is what the agent's speaker must do with a probe message.
type Outcome int

const (
	// Reset: NOTIFICATION (with Probe.Notification) and the session ends.
	Reset Outcome = iota
	// Withdraw: the UPDATE is treated as withdraw (RFC 7606); the session
	// stays and the message is counted as malformed.
	Withdraw
	// Ignored: GoBGP parses the message and goes on; the session stays.
	// Acceptable when the message is harmless (an unknown SRv6 sub-TLV, a
	// KEEPALIVE with trailing octets that GoBGP 4.8.0 still tolerates).
	Ignored
)

func (o Outcome) String() string {
	return [...]string{"reset", "treat-as-withdraw", "ignored"}[o]
}

// Probe is one malformed (or control) BGP message from a published GoBGP
// advisory or fix, and what the agent must do with it. The set is
// ../../shared/facts/bgp-malformed-probes.md; add a row when a new advisory
// appears.
type Probe struct {
	Name   string
	Source string
	Hex    string // the whole message, header included
	// PreOpen sends the message instead of our OPEN; DialIn makes the raw
	// peer dial the agent (the agent is passive for that session).
	PreOpen, DialIn bool
	Expect          Outcome
	// Notification is "code/subcode" of the NOTIFICATION expected (Reset).
	Notification string
}

// Message decodes Hex.
func (p Probe) Message() []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(p.Hex, " ", ""))
	if err != nil {
		panic(fmt.Sprintf("probe %s: %v", p.Name, err))
	}
	return b
}

// ControlUpdate announces 10.1.0.0/24 from AS 65000 with next hop 10.0.0.1:
// a valid UPDATE, sent after every probe that must leave the session up, to
// prove it still carries routes.
const ControlUpdate = "ffffffffffffffffffffffffffffffff002f02000000144001010040020602010000fde84003040a000001180a0100"

const srv6SubTLV = "ffffffffffffffffffffffffffffffff003c02000000214001010040020602010000fde84003040a000001c0280a05000700ff0003010203180a0100"

// MalformedProbes returns the probe table: at least the twenty messages of
// the probe set, each with its source.
func MalformedProbes() []Probe {
	keepalive5000 := "ffffffffffffffffffffffffffffffff138804" + strings.Repeat("00", 5000-19)
	return []Probe{
		{Name: "control-valid-update", Source: "control", Hex: ControlUpdate, Expect: Ignored},
		{Name: "nexthop-len2", Source: "GHSA-4p9m-8gc4-rw2h / CVE-2026-30405 (#3305)",
			Hex: "ffffffffffffffffffffffffffffffff0028020000000d4001010240020040030201020118c0a801", Expect: Withdraw},
		{Name: "nexthop-flags0-len0", Source: "GHSA-4p9m-8gc4-rw2h / CVE-2026-30405 (#3305)",
			Hex: "ffffffffffffffffffffffffffffffff002b02000000104001010040020602010000fde8000300180a0100", Expect: Withdraw},
		{Name: "unknown-wellknown-attr", Source: "GHSA-7235-89m6-f4px / CVE-2026-41642",
			Hex: "ffffffffffffffffffffffffffffffff003302000000184001010040020602010000fde84003040a00000140f00100180a0100", Expect: Reset, Notification: "3/2"},
		{Name: "mpreach-unconfigured-af+bad-origin", Source: "GHSA-p3w2-64xm-833j / CVE-2026-42285",
			Hex: "ffffffffffffffffffffffffffffffff0043020000002c0001010040020602010000fde8800e1c0002011020010db8000000000000000000000001003020010db80001", Expect: Withdraw},
		{Name: "mpreach-unconfigured-af+short-attr-len", Source: "GHSA-p3w2-64xm-833j / CVE-2026-42285",
			Hex: "ffffffffffffffffffffffffffffffff0043020000002a40020602010000fde8800e1c0002011020010db8000000000000000000000001003020010db8000140010100", Expect: Withdraw},
		{Name: "mpreach-bogus-afisafi+bad-origin", Source: "GHSA-p3w2-64xm-833j / CVE-2026-42285",
			Hex: "ffffffffffffffffffffffffffffffff0032020000001b0001010040020602010000fde8800e0b444455040a00000100080a", Expect: Reset, Notification: "3/10"},
		{Name: "srv6-unknown-subtlv", Source: "GHSA-vm3g-8xwv-mxfp (fix f9f7b55e)", Hex: srv6SubTLV, Expect: Ignored},
		{Name: "srv6-l3service-len0", Source: "GHSA-vm3g-8xwv-mxfp (v4 fix b6c58c87)",
			Hex: "ffffffffffffffffffffffffffffffff0036020000001b4001010040020602010000fde84003040a000001c0280405000000180a0100", Expect: Withdraw},
		// The advisory needs a confederation on the receiving side; the
		// agent never configures one, so both rows meet a speaker without.
		{Name: "confed-empty-aspath", Source: "GHSA-frrj-87jh-2772",
			Hex: "ffffffffffffffffffffffffffffffff0029020000000e400101004002004003040a000001180a0100", Expect: Ignored},
		{Name: "confed-empty-aspath-noconfed", Source: "GHSA-frrj-87jh-2772 (control)",
			Hex: "ffffffffffffffffffffffffffffffff0029020000000e400101004002004003040a000001180a0100", Expect: Ignored},
		{Name: "unknown-msg-type", Source: "GO-2024-3124 / CVE-2023-46565 (#2725), #3325 (v4 fix a38edb25)",
			Hex: "ffffffffffffffffffffffffffffffff0013ff", Expect: Reset, Notification: "1/3"},
		{Name: "unknown-msg-type-preopen", Source: "GO-2024-3124 / CVE-2023-46565 (#2725), #3325",
			Hex: "ffffffffffffffffffffffffffffffff0013ff", PreOpen: true, Expect: Reset, Notification: "1/3"},
		{Name: "keepalive-len23", Source: "4.9.0: reject KEEPALIVE not 19 octets (#3567)",
			Hex: "ffffffffffffffffffffffffffffffff001704deadbeef", Expect: Ignored},
		{Name: "update-len21", Source: "4.9.0: check the per-type message length",
			Hex: "ffffffffffffffffffffffffffffffff0015020000", Expect: Reset, Notification: "3/1"},
		{Name: "keepalive-len5000", Source: "4.9.0: per-type/declared length (Length > 4096)",
			Hex: keepalive5000, Expect: Reset, Notification: "1/2"},
		{Name: "withdrawn-len-mismatch", Source: "4.9.0: reject a body that does not match the declared length",
			Hex: "ffffffffffffffffffffffffffffffff001b020002180a01000000", Expect: Reset, Notification: "3/1"},
		{Name: "mpreach-len3", Source: "v3-only decoder bug (v4 fix ac5a8894/901675ab)",
			Hex: "ffffffffffffffffffffffffffffffff002a02000000134001010040020602010000fde8800e03000101", Expect: Reset, Notification: "3/5"},
		{Name: "srv6-unknown-subtlv-activemode", Source: "GHSA-vm3g-8xwv-mxfp", Hex: srv6SubTLV, DialIn: true, Expect: Ignored},
		{Name: "unknown-msg-type-activemode", Source: "GO-2024-3124 / #3325",
			Hex: "ffffffffffffffffffffffffffffffff0013ff", DialIn: true, Expect: Reset, Notification: "1/3"},
	}
}

// RawPeer is a BGP peer written by hand, for sending what no real
// implementation sends. It speaks just enough BGP to reach Established:
// OPEN with the multiprotocol (IPv4 unicast) and 4-octet AS capabilities,
// then KEEPALIVEs when asked.
type RawPeer struct {
	Conn     net.Conn
	ASN      uint32
	RouterID netip.Addr
	HoldTime uint16
}

// BGP message types.
const (
	MsgOpen         = 1
	MsgUpdate       = 2
	MsgNotification = 3
	MsgKeepalive    = 4
)

// ReadMessage reads one BGP message (header included).
func (p *RawPeer) ReadMessage(timeout time.Duration) ([]byte, error) {
	p.Conn.SetReadDeadline(time.Now().Add(timeout))
	hdr := make([]byte, 19)
	if _, err := io.ReadFull(p.Conn, hdr); err != nil {
		return nil, err
	}
	n := int(binary.BigEndian.Uint16(hdr[16:18]))
	if n < 19 || n > 65535 {
		return nil, fmt.Errorf("bad length %d in header %x", n, hdr)
	}
	msg := make([]byte, n)
	copy(msg, hdr)
	if _, err := io.ReadFull(p.Conn, msg[19:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// Send writes raw bytes.
func (p *RawPeer) Send(b []byte) error {
	p.Conn.SetWriteDeadline(time.Now().Add(5 * time.Second))
	_, err := p.Conn.Write(b)
	return err
}

func message(typ byte, body []byte) []byte {
	b := bytes.Repeat([]byte{0xff}, 16)
	b = binary.BigEndian.AppendUint16(b, uint16(19+len(body)))
	b = append(b, typ)
	return append(b, body...)
}

// Open is our OPEN message.
func (p *RawPeer) Open() []byte {
	as2 := uint16(23456) // AS_TRANS
	if p.ASN <= 0xffff {
		as2 = uint16(p.ASN)
	}
	body := []byte{4}
	body = binary.BigEndian.AppendUint16(body, as2)
	body = binary.BigEndian.AppendUint16(body, p.HoldTime)
	id := p.RouterID.As4()
	body = append(body, id[:]...)
	caps := []byte{1, 4, 0, 1, 0, 1} // multiprotocol IPv4 unicast
	caps = append(caps, 65, 4)       // 4-octet AS
	caps = binary.BigEndian.AppendUint32(caps, p.ASN)
	params := append([]byte{2, byte(len(caps))}, caps...)
	body = append(body, byte(len(params)))
	body = append(body, params...)
	return message(MsgOpen, body)
}

// Keepalive is a KEEPALIVE message.
func Keepalive() []byte { return message(MsgKeepalive, nil) }

// Handshake reads the agent's OPEN, answers with ours and a KEEPALIVE, and
// waits for the agent's KEEPALIVE: both sides are then Established.
func (p *RawPeer) Handshake(timeout time.Duration) error {
	if err := p.expect(MsgOpen, timeout); err != nil {
		return err
	}
	if err := p.Send(append(p.Open(), Keepalive()...)); err != nil {
		return err
	}
	return p.expect(MsgKeepalive, timeout)
}

// ExpectOpen reads the agent's OPEN.
func (p *RawPeer) ExpectOpen(timeout time.Duration) error { return p.expect(MsgOpen, timeout) }

func (p *RawPeer) expect(typ byte, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		m, err := p.ReadMessage(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("waiting for message type %d: %w", typ, err)
		}
		switch m[18] {
		case typ:
			return nil
		case MsgNotification:
			return fmt.Errorf("waiting for message type %d: NOTIFICATION %s", typ, NotificationCode(m))
		}
	}
}

// ErrNoNotification: the session ended without a NOTIFICATION.
var ErrNoNotification = errors.New("connection closed without NOTIFICATION")

// AwaitNotification reads (and answers KEEPALIVEs are not needed within a
// hold time) until a NOTIFICATION arrives and returns its "code/subcode", or
// ErrNoNotification when the connection closes first.
func (p *RawPeer) AwaitNotification(timeout time.Duration) (string, error) {
	deadline := time.Now().Add(timeout)
	for {
		m, err := p.ReadMessage(time.Until(deadline))
		if errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed) {
			return "", ErrNoNotification
		}
		if err != nil {
			return "", err
		}
		if m[18] == MsgNotification {
			return NotificationCode(m), nil
		}
	}
}

// NotificationCode is "code/subcode" of a NOTIFICATION message.
func NotificationCode(m []byte) string {
	if len(m) < 21 {
		return "short"
	}
	return fmt.Sprintf("%d/%d", m[19], m[20])
}

package bfd

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// An Up packet with Poll, mult 3, discriminators 1 and 2, 300ms/300ms,
// encoded by hand from the RFC 5880 §4.1 diagram.
const upPollHex = "20" + "e0" + "03" + "18" + "00000001" + "00000002" + "000493e0" + "000493e0" + "00000000"

func TestMarshalMatchesTheRFCLayout(t *testing.T) {
	p := Packet{State: StateUp, Poll: true, DetectMult: 3, MyDiscriminator: 1, YourDiscriminator: 2,
		DesiredMinTx: 300 * time.Millisecond, RequiredMinRx: 300 * time.Millisecond}
	b, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(b); got != upPollHex {
		t.Fatalf("encoded %s, want %s", got, upPollHex)
	}
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		p    Packet
	}{
		{"a plain down packet survives", Packet{State: StateDown, DetectMult: 3, MyDiscriminator: 7, DesiredMinTx: time.Second, RequiredMinRx: 100 * time.Millisecond}},
		{"all flags but M survive", Packet{State: StateUp, Diag: DiagPathDown, Final: true, CPI: true, Demand: true, DetectMult: 1, MyDiscriminator: 1, YourDiscriminator: 9, RequiredMinEchoRx: time.Millisecond}},
		{"a simple password survives", Packet{State: StateInit, DetectMult: 5, MyDiscriminator: 3, YourDiscriminator: 4,
			Auth: &Auth{Type: AuthSimplePassword, KeyID: 2, Password: []byte("secret")}}},
		{"a keyed sha1 section survives", Packet{State: StateUp, DetectMult: 3, MyDiscriminator: 3, YourDiscriminator: 4,
			Auth: &Auth{Type: AuthKeyedSHA1, KeyID: 1, Sequence: 0xdeadbeef, Digest: bytes.Repeat([]byte{0xab}, 20)}}},
		{"a meticulous md5 section survives", Packet{State: StateUp, DetectMult: 3, MyDiscriminator: 3, YourDiscriminator: 4,
			Auth: &Auth{Type: AuthMeticulousMD5, KeyID: 1, Sequence: 5, Digest: bytes.Repeat([]byte{0xcd}, 16)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := tc.p.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			got, err := Unmarshal(b)
			if err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tc.p) {
				t.Fatalf("round trip\n got %+v\nwant %+v", got, tc.p)
			}
		})
	}
}

func TestUnmarshalRejects(t *testing.T) {
	valid, _ := hex.DecodeString(upPollHex)
	mut := func(f func(b []byte) []byte) []byte { return f(append([]byte(nil), valid...)) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"a 23-byte packet is short", valid[:23], ErrShort},
		{"version 0 is refused", mut(func(b []byte) []byte { b[0] = 0x00; return b }), ErrVersion},
		{"a length beyond the payload is refused", mut(func(b []byte) []byte { b[3] = 30; return b }), ErrLength},
		{"a length below 24 is refused", mut(func(b []byte) []byte { b[3] = 20; return b }), ErrLength},
		{"a length above 24 without auth is refused", mut(func(b []byte) []byte { b[3] = 25; return append(b, 0) }), ErrLength},
		{"detect multiplier zero is refused", mut(func(b []byte) []byte { b[2] = 0; return b }), ErrDetectMult},
		{"the multipoint bit is refused", mut(func(b []byte) []byte { b[1] |= 0x01; return b }), ErrMultipoint},
		{"my discriminator zero is refused", mut(func(b []byte) []byte { copy(b[4:8], []byte{0, 0, 0, 0}); return b }), ErrMyDiscriminator},
		{"your discriminator zero while up is refused", mut(func(b []byte) []byte { copy(b[8:12], []byte{0, 0, 0, 0}); return b }), ErrYourDiscriminator},
		{"an auth bit without a section is refused", mut(func(b []byte) []byte { b[1] |= 0x04; return b }), ErrLength},
		{"an auth length disagreeing with the section is refused", mut(func(b []byte) []byte {
			b[1] |= 0x04
			b[3] = 24 + 7
			return append(b, byte(AuthSimplePassword), 6, 1, 'a', 'b', 'c', 'd')
		}), ErrAuthSection},
		{"a sha1 section of the wrong size is refused", mut(func(b []byte) []byte {
			b[1] |= 0x04
			b[3] = 24 + 24
			return append(b, append([]byte{byte(AuthKeyedSHA1), 24}, make([]byte, 22)...)...)
		}), ErrAuthSection},
		{"an unknown auth type is refused", mut(func(b []byte) []byte {
			b[1] |= 0x04
			b[3] = 24 + 4
			return append(b, 9, 4, 1, 'x')
		}), ErrAuthSection},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal(tc.b)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Unmarshal = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestTrailingBytesAfterLengthAreIgnored(t *testing.T) {
	valid, _ := hex.DecodeString(upPollHex)
	if _, err := Unmarshal(append(valid, 0xff, 0xff)); err != nil {
		t.Fatalf("payload longer than Length: %v", err)
	}
}

func TestSHA1DigestDetectsTampering(t *testing.T) {
	p := Packet{State: StateUp, DetectMult: 3, MyDiscriminator: 1, YourDiscriminator: 2,
		Auth: &Auth{Type: AuthKeyedSHA1, KeyID: 1, Sequence: 10}}
	b, _ := p.Marshal()
	signSHA1(b, []byte("key"))
	if !verifySHA1(b, []byte("key")) {
		t.Fatal("a correctly signed packet does not verify")
	}
	if verifySHA1(b, []byte("other")) {
		t.Fatal("a packet verifies with the wrong key")
	}
	b[2] = 4
	if verifySHA1(b, []byte("key")) {
		t.Fatal("a tampered packet verifies")
	}
}

func FuzzUnmarshal(f *testing.F) {
	seeds, err := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzUnmarshal", "*"))
	if err != nil || len(seeds) == 0 {
		f.Fatalf("seed corpus missing: %d files, %v", len(seeds), err)
	}
	if _, err := os.Stat(seeds[0]); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := Unmarshal(b)
		if err != nil {
			return
		}
		enc, err := p.Marshal()
		if err != nil {
			t.Fatalf("decoded packet does not encode: %+v: %v", p, err)
		}
		q, err := Unmarshal(enc)
		if err != nil {
			t.Fatalf("re-encoded packet does not decode: %v", err)
		}
		if !reflect.DeepEqual(p, q) {
			t.Fatalf("decode/encode/decode differs\n%+v\n%+v", p, q)
		}
		in := append([]byte(nil), b[:b[3]]...)
		if p.Auth != nil && p.Auth.Type != AuthSimplePassword {
			in[HeaderLen+3] = 0 // reserved: ignored on receipt, zero on send
		}
		if !bytes.Equal(enc, in) {
			t.Fatalf("re-encoding differs from input\n%x\n%x", enc, in)
		}
	})
}

package bfd

import (
	"slices"
	"testing"
	"testing/synctest"
	"time"
)

func TestAuthentication(t *testing.T) {
	pw := func(s string) *AuthConfig { return &AuthConfig{Type: AuthSimplePassword, KeyID: 1, Secret: []byte(s)} }
	sha := func(s string) *AuthConfig { return &AuthConfig{Type: AuthKeyedSHA1, KeyID: 2, Secret: []byte(s)} }
	msha := func(s string) *AuthConfig { return &AuthConfig{Type: AuthMeticulousSHA1, KeyID: 3, Secret: []byte(s)} }
	tests := []struct {
		name   string
		a, b   *AuthConfig
		wantUp bool
	}{
		{"matching simple passwords come up", pw("s3cret"), pw("s3cret"), true},
		{"different simple passwords stay down", pw("s3cret"), pw("other"), false},
		{"matching keyed sha1 keys come up", sha("k"), sha("k"), true},
		{"different keyed sha1 keys stay down", sha("k"), sha("x"), false},
		{"matching meticulous sha1 keys come up", msha("k"), msha("k"), true},
		{"auth on one side only stays down", pw("s3cret"), nil, false},
		{"different auth types stay down", pw("k"), sha("k"), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ca, cb := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
				ca.Auth, cb.Auth = tc.a, tc.b
				a, b := newEndpoint(t, ca, 1), newEndpoint(t, cb, 2)
				link(a, b)
				stop := runAll(a, b)
				defer stop()
				time.Sleep(5 * time.Second)
				waitIdle()
				up := a.s.snapshot().State == StateUp && b.s.snapshot().State == StateUp
				if up != tc.wantUp {
					t.Fatalf("both up = %v, want %v", up, tc.wantUp)
				}
				authDrops := slices.Contains(a.dropReasons(), DropAuth) || slices.Contains(b.dropReasons(), DropAuth)
				if authDrops == tc.wantUp {
					t.Fatalf("auth drops seen = %v with sessions up = %v", authDrops, up)
				}
			})
		})
	}
}

func TestMeticulousSHA1RefusesReplay(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		auth := &AuthConfig{Type: AuthMeticulousSHA1, KeyID: 3, Secret: []byte("k")}
		ca, _ := cfgAB(100*time.Millisecond, 100*time.Millisecond, 3)
		ca.Auth = auth
		a := newEndpoint(t, ca, 1)
		stop := runAll(a)
		defer stop()
		p := Packet{State: StateDown, DetectMult: 3, MyDiscriminator: 9, DesiredMinTx: time.Second, RequiredMinRx: time.Second,
			Auth: &Auth{Type: AuthMeticulousSHA1, KeyID: 3, Sequence: 100}}
		b, _ := p.Marshal()
		signSHA1(b, auth.Secret)
		a.injectRaw(t, b)
		waitIdle()
		a.injectRaw(t, append([]byte(nil), b...))
		waitIdle()
		if got := a.dropReasons(); !slices.Equal(got, []string{DropAuth}) {
			t.Fatalf("drops %v after a replay, want one auth drop", got)
		}
		if st := a.s.snapshot(); st.PacketsReceived != 1 || st.State != StateInit {
			t.Fatalf("received %d, state %s; want the first packet accepted (init)", st.PacketsReceived, st.State)
		}
	})
}

// TestAuthSequenceKnownLastsTwiceTheDetectionTime checks §6.8.1: the
// received sequence number stays known until no packet arrived for twice
// the detection time. Between one and two detection times a packet far
// outside the window is still refused; after two it is accepted afresh.
func TestAuthSequenceKnownLastsTwiceTheDetectionTime(t *testing.T) {
	const detect = 3 * time.Second // DetectMult 3 × 1 s while not Up
	for _, tc := range []struct {
		name       string
		silence    time.Duration
		wantAccept bool
	}{
		{"a jump after 1.5 detection times is refused", detect * 3 / 2, false},
		{"a jump after 2 detection times starts afresh", 2*detect + time.Millisecond, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				auth := &AuthConfig{Type: AuthKeyedSHA1, KeyID: 2, Secret: []byte("k")}
				ca, _ := cfgAB(time.Second, time.Second, 3)
				ca.Auth = auth
				a := newEndpoint(t, ca, 1)
				stop := runAll(a)
				defer stop()
				send := func(seq uint32) {
					p := Packet{State: StateDown, DetectMult: 3, MyDiscriminator: 9, DesiredMinTx: time.Second, RequiredMinRx: time.Second,
						Auth: &Auth{Type: AuthKeyedSHA1, KeyID: 2, Sequence: seq}}
					b, _ := p.Marshal()
					signSHA1(b, auth.Secret)
					a.injectRaw(t, b)
					waitIdle()
				}
				send(100)
				time.Sleep(tc.silence)
				send(100 + 1000) // far outside the 3 × DetectMult window
				st := a.s.snapshot()
				accepted := st.PacketsReceived == 2
				if accepted != tc.wantAccept {
					t.Fatalf("second packet accepted = %v (received %d, drops %v), want %v",
						accepted, st.PacketsReceived, a.dropReasons(), tc.wantAccept)
				}
			})
		})
	}
}

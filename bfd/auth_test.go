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

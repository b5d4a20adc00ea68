package bgp

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

const gobgpCLI = "/usr/bin/gobgp"

func requireInteropBinary(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		msg := path + " not installed (Debian package gobgpd): " + err.Error()
		if os.Getenv("RSAGENT_REQUIRE_INTEROP") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// TestGobgpCLIAgainstOurGRPCPort runs the stock gobgp CLI (3.10) against the
// speaker's gRPC API, as an operator would.
func TestGobgpCLIAgainstOurGRPCPort(t *testing.T) {
	requireInteropBinary(t, gobgpCLI)
	rs := newRouteServer(t, "127.0.0.8", localASN)
	grpcPort := freePort(t, "127.0.0.1")
	s := newTestSpeaker(t, func(c *Config) {
		c.GRPCListen = net.JoinHostPort("127.0.0.1", strconv.Itoa(int(grpcPort)))
	}, rs.peerConfig())
	svc := netip.MustParsePrefix("203.0.113.60/32")
	if err := s.Set([]Advertisement{{Prefix: svc, MED: 42}}); err != nil {
		t.Fatal(err)
	}
	runSpeaker(t, s)
	waitEstablished(t, s, rs.addr)

	gobgp := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		full := append([]string{"-u", "127.0.0.1", "-p", strconv.Itoa(int(grpcPort))}, args...)
		out, err := exec.CommandContext(ctx, gobgpCLI, full...).CombinedOutput()
		if err != nil {
			t.Fatalf("gobgp %s: %v\n%s", strings.Join(full, " "), err, out)
		}
		return out
	}

	t.Run("neighbor lists the route server as established", func(t *testing.T) {
		out := gobgp("neighbor")
		if !strings.Contains(string(out), rs.addr.String()) || !strings.Contains(string(out), "Establ") {
			t.Errorf("gobgp neighbor:\n%s", out)
		}
		var peers []struct {
			State struct {
				NeighborAddress string `json:"neighbor_address"`
				PeerAsn         uint32 `json:"peer_asn"`
				SessionState    any    `json:"session_state"`
			} `json:"state"`
		}
		js := gobgp("neighbor", "-j")
		if err := json.Unmarshal(js, &peers); err != nil {
			t.Fatalf("gobgp neighbor -j: %v\n%s", err, js)
		}
		if len(peers) != 1 || peers[0].State.NeighborAddress != rs.addr.String() || peers[0].State.PeerAsn != rsASN {
			t.Errorf("gobgp neighbor -j = %+v", peers)
		}
	})

	t.Run("global rib lists the advertised prefix", func(t *testing.T) {
		out := gobgp("global", "rib")
		if !strings.Contains(string(out), svc.String()) || !strings.Contains(string(out), "127.0.0.1") {
			t.Errorf("gobgp global rib:\n%s", out)
		}
		js := gobgp("global", "rib", "-j")
		var rib map[string]json.RawMessage
		if err := json.Unmarshal(js, &rib); err != nil {
			t.Fatalf("gobgp global rib -j: %v\n%s", err, js)
		}
		if _, ok := rib[svc.String()]; !ok {
			t.Errorf("gobgp global rib -j has no %s: %s", svc, js)
		}
	})
}

func TestRunFailsWhenTheGRPCPortIsTaken(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s := newTestSpeaker(t, func(c *Config) { c.GRPCListen = l.Addr().String() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = s.Run(ctx)
	var opErr *net.OpError
	if err == nil || !errors.As(err, &opErr) {
		t.Fatalf("Run = %v, want a listen error", err)
	}
	if !strings.Contains(err.Error(), l.Addr().String()) {
		t.Errorf("error %q does not name the address", err)
	}
}

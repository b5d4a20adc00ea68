package bgp

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rsagent/rsagent/internal/netns"
)

// TestGobgpCLIsAgainstOurGRPCPort runs both gobgp CLIs an operator may have
// against the speaker's gRPC port: GoBGP's v4 CLI (the embedded server's own
// API) and Debian's 3.x CLI (the read-only v3 compatibility service).
func TestGobgpCLIsAgainstOurGRPCPort(t *testing.T) {
	netns.RequireBinaries(t, netns.GoBGPv3CLI)
	v4 := netns.GoBGPv4CLI(t)
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
	eventually(t, 5*time.Second, "our prefix at the route server", func() error {
		if _, ok := rs.routes(false)[svc]; !ok {
			return errors.New("not yet")
		}
		return nil
	})

	run := func(t *testing.T, cli string, args ...string) (string, error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		full := append([]string{"-u", "127.0.0.1", "-p", strconv.Itoa(int(grpcPort))}, args...)
		out, err := exec.CommandContext(ctx, cli, full...).CombinedOutput()
		return string(out), err
	}
	gobgp := func(t *testing.T, cli string, args ...string) string {
		t.Helper()
		out, err := run(t, cli, args...)
		if err != nil {
			t.Fatalf("%s %s: %v\n%s", cli, strings.Join(args, " "), err, out)
		}
		return out
	}
	contains := func(t *testing.T, what, out string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s lacks %q:\n%s", what, w, out)
			}
		}
	}
	peer, nh := rs.addr.String(), speakerAddr.String()

	for _, cli := range []struct{ name, path string }{{"v4", v4}, {"v3", netns.GoBGPv3CLI}} {
		t.Run("the "+cli.name+" CLI's neighbor lists the route server as established", func(t *testing.T) {
			contains(t, "gobgp neighbor", gobgp(t, cli.path, "neighbor"), peer, "Establ", strconv.Itoa(rsASN))
		})
		t.Run("the "+cli.name+" CLI's neighbor <addr> shows the session in detail", func(t *testing.T) {
			out := gobgp(t, cli.path, "neighbor", peer)
			contains(t, "gobgp neighbor "+peer, out, "BGP neighbor is "+peer, "remote AS "+strconv.Itoa(rsASN),
				"BGP state = ", "ESTABLISHED", "Hold time is 9")
		})
		t.Run("the "+cli.name+" CLI's global rib shows our prefix with its next hop", func(t *testing.T) {
			contains(t, "gobgp global rib", gobgp(t, cli.path, "global", "rib"), svc.String(), nh)
		})
	}

	t.Run("the v3 CLI's global shows our AS and router id", func(t *testing.T) {
		contains(t, "gobgp global", gobgp(t, netns.GoBGPv3CLI, "global"), "AS:        "+strconv.Itoa(localASN), "Router-ID: "+nh)
	})
	t.Run("the v3 CLI's neighbor adj-out shows what we sent, with MED", func(t *testing.T) {
		contains(t, "gobgp neighbor adj-out", gobgp(t, netns.GoBGPv3CLI, "neighbor", peer, "adj-out"), svc.String(), nh, "{Med: 42}")
	})
	t.Run("the v3 CLI's JSON neighbor and rib carry the peer and the prefix", func(t *testing.T) {
		var peers []struct {
			State struct {
				NeighborAddress string `json:"neighbor_address"`
				PeerAsn         uint32 `json:"peer_asn"`
			} `json:"state"`
		}
		js := gobgp(t, netns.GoBGPv3CLI, "neighbor", "-j")
		if err := json.Unmarshal([]byte(js), &peers); err != nil {
			t.Fatalf("gobgp neighbor -j: %v\n%s", err, js)
		}
		if len(peers) != 1 || peers[0].State.NeighborAddress != peer || peers[0].State.PeerAsn != rsASN {
			t.Errorf("gobgp neighbor -j = %+v", peers)
		}
		var rib map[string]json.RawMessage
		js = gobgp(t, netns.GoBGPv3CLI, "global", "rib", "-j")
		if err := json.Unmarshal([]byte(js), &rib); err != nil {
			t.Fatalf("gobgp global rib -j: %v\n%s", err, js)
		}
		if _, ok := rib[svc.String()]; !ok {
			t.Errorf("gobgp global rib -j has no %s: %s", svc, js)
		}
	})
	// (The 3.10 CLI drops the error of some streaming calls, such as
	// `gobgp policy`, and prints nothing; those are refused all the same.)
	t.Run("a v3 call outside the read-only subset is refused and names the v4 CLI", func(t *testing.T) {
		for _, args := range [][]string{
			{"global", "rib", "add", "198.51.100.0/24"},
			{"neighbor", peer, "reset"},
			{"vrf"},
			{"global", "policy"},
		} {
			out, err := run(t, netns.GoBGPv3CLI, args...)
			if err == nil || !strings.Contains(out, "go install github.com/osrg/gobgp/v4/cmd/gobgp@v4.8.0") {
				t.Errorf("gobgp %s: err %v, output %q; want a refusal naming the v4 CLI", strings.Join(args, " "), err, out)
			}
		}
		if got := s.Advertised(); len(got) != 1 || got[0].Prefix != svc {
			t.Errorf("advertisements after refused calls: %v", got)
		}
		if st := peerStatus(s, rs.addr); st.EstablishedCount != 1 {
			t.Errorf("session reset by a refused call: %+v", st)
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

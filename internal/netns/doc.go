// Package netns is the interop test harness: it creates network namespaces
// joined by veth pairs, runs FRR, BIRD and rsagent inside them, injects
// failures with nft, and removes everything it made, also on failure.
// Only tests import it.
//
// A typical interop test:
//
//	func TestAgainstFRR(t *testing.T) {
//		netns.Require(t, append(netns.FRRBinaries(), "ip", "nft")...)
//		agentNS, peerNS := netns.New(t), netns.New(t)
//		agentIf, _ := netns.Link(t, agentNS, peerNS,
//			netip.MustParsePrefix("198.51.100.1/30"), netip.MustParsePrefix("198.51.100.2/30"))
//		frr := netns.StartFRR(t, peerNS, netns.FRRConfig{
//			ASN: 65000, RouterID: netip.MustParseAddr("198.51.100.2"),
//			ListenAddr: netip.MustParseAddr("198.51.100.2"),
//			Neighbors: []netns.FRRNeighbor{{Addr: netip.MustParseAddr("198.51.100.1"), ASN: 65010, Passive: true, BFD: true}},
//		})
//		agent := agentNS.Start(t, "env", "AWS_EC2_METADATA_DISABLED=true",
//			netns.RsagentBinary(t), "run", "--config", cfgPath)
//		netns.WaitFor(t, 30*time.Second, "BGP Established", func() error {
//			st, err := frr.NeighborState(netip.MustParseAddr("198.51.100.1"))
//			if err == nil && st != "Established" {
//				err = fmt.Errorf("state %s", st)
//			}
//			return err
//		})
//		agentNS.DropAll(t, agentIf) // BFD must notice within detect time
//		_ = agent
//	}
//
// Code under test that runs in the test process (the bfd package) opens its
// sockets inside a namespace with NS.Do, NS.ListenPacket or NS.Listen; the
// sockets stay there. NS.HTTPClient reaches an HTTP server inside a namespace.
// FRR with ASN 0 runs bfdd only, and BIRDConfig.BFDNeighbors gives BIRD BFD
// sessions without BGP, for BFD tests. Start runs any command (prefix "env",
// "K=V" to add environment); its output is in Proc.Log, and FRR.Log and
// BIRD.Log return the daemons' own debug logs, which the harness also prints
// when a test fails.
//
// Parsers of FRR JSON and BIRD text are tested on output captured from the
// real daemons in testdata/; refresh it with
// `go test ./internal/netns -run 'TestFRRAndBIRD' -capture`.
//
// Every namespace is named NamePrefix+"<pid>-<random>" and has interfaces
// eth0, eth1, … in the order Link creates them. Everything a test creates is
// removed by t.Cleanup: processes get SIGTERM then SIGKILL, whatever still runs
// in a namespace is killed before the namespace is deleted, and the nft drop
// table goes with Undrop or at cleanup. BFD daemons (FRR bfdd, BIRD) bind UDP
// 3784, so a BFD implementation under test needs its own namespace. When a
// test process dies without its cleanups (a -timeout panic), the next New in
// any test process removes its namespaces, daemons and state directories.
package netns

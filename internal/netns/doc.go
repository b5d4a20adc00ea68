// Package netns is the interop test harness: it creates network namespaces
// joined by veth pairs, runs FRR, BIRD and rsagent inside them, injects
// failures with nft, and removes everything it made, also on failure.
// Only tests import it.
package netns

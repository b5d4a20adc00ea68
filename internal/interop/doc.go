// Package interop holds rsagent's tier-3 tests: the real rsagent binary in a
// network namespace against FRR and BIRD in their own namespaces, failures
// injected with nft. It has no non-test code; see DESIGN.md "Testing tiers".
package interop

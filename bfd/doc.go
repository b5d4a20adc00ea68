// Package bfd implements Bidirectional Forwarding Detection (RFC 5880) in
// asynchronous mode for single-hop IPv4/IPv6 sessions (RFC 5881).
//
// It owns the control-packet codec, a pure state machine, per-peer sessions
// with timer negotiation, Poll/Final, jitter and detection, and the UDP
// transport (TTL 255 / GTSM, demultiplexing by discriminator).
//
// bfd is a leaf: it imports only the standard library and golang.org/x/net
// and golang.org/x/sys. It knows nothing about BGP; the agent package couples
// BFD state changes to BGP peers.
package bfd

//go:build !linux

package bgp

import (
	"errors"
	"net/netip"
)

var errSocketGone = errors.New("no such tcp socket")

// unackedBytes needs Linux's sock_diag; elsewhere delivery cannot be
// confirmed beyond GoBGP's socket write.
func unackedBytes(local, remote netip.AddrPort) (uint32, error) {
	return 0, errors.ErrUnsupported
}

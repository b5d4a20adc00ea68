package bgp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// errSocketGone means the kernel has no socket with that 4-tuple: the
// session's connection is closed.
var errSocketGone = errors.New("no such tcp socket")

// unackedBytes asks the kernel (sock_diag, an exact lookup by 4-tuple) how
// many bytes written to the TCP connection local→remote the peer has not
// acknowledged yet: the socket's write queue, write_seq − snd_una. GoBGP
// counts an UPDATE as sent once the socket write returns, which only means
// the kernel buffered it; zero here means the peer's TCP stack has it.
//
// vishvananda/netlink's SocketGet is not used: it sends a dump request, which
// the kernel filters by port only, so with an ephemeral port reused towards
// another destination it can answer with the wrong socket.
func unackedBytes(local, remote netip.AddrPort) (uint32, error) {
	family := uint8(unix.AF_INET)
	if local.Addr().Unmap().Is6() {
		family = unix.AF_INET6
	}
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, unix.NETLINK_SOCK_DIAG)
	if err != nil {
		return 0, fmt.Errorf("sock_diag socket: %w", err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(100e6))
	_ = unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv)
	if err := unix.Sendto(fd, diagRequest(family, local, remote), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return 0, fmt.Errorf("sock_diag request: %w", err)
	}
	buf := make([]byte, 4096)
	n, _, err := unix.Recvfrom(fd, buf, 0)
	if err != nil {
		return 0, fmt.Errorf("sock_diag answer: %w", err)
	}
	return parseDiagAnswer(buf[:n])
}

const (
	nlmsgHdrLen    = 16
	diagReqLen     = 56 // struct inet_diag_req_v2
	diagMsgLen     = 72 // struct inet_diag_msg
	diagWQueueOff  = 60 // idiag_wqueue within inet_diag_msg
	diagNoCookie   = ^uint32(0)
	tcpStatesAll   = ^uint32(0)
	sockDiagByFam  = unix.SOCK_DIAG_BY_FAMILY
	nlmsgTypeError = unix.NLMSG_ERROR
)

// diagRequest builds nlmsghdr + inet_diag_req_v2 for an exact lookup
// (no NLM_F_DUMP): ports and addresses in network order, the rest native.
func diagRequest(family uint8, local, remote netip.AddrPort) []byte {
	b := make([]byte, nlmsgHdrLen+diagReqLen)
	ne := binary.NativeEndian
	ne.PutUint32(b[0:], uint32(len(b)))
	ne.PutUint16(b[4:], sockDiagByFam)
	ne.PutUint16(b[6:], unix.NLM_F_REQUEST)
	ne.PutUint32(b[8:], 1) // sequence
	r := b[nlmsgHdrLen:]
	r[0] = family
	r[1] = unix.IPPROTO_TCP
	ne.PutUint32(r[4:], tcpStatesAll)
	id := r[8:]
	binary.BigEndian.PutUint16(id[0:], local.Port())
	binary.BigEndian.PutUint16(id[2:], remote.Port())
	putAddr(id[4:20], local.Addr())
	putAddr(id[20:36], remote.Addr())
	ne.PutUint32(id[40:], diagNoCookie)
	ne.PutUint32(id[44:], diagNoCookie)
	return b
}

func putAddr(dst []byte, a netip.Addr) {
	a = a.Unmap()
	if a.Is4() {
		v := a.As4()
		copy(dst, v[:])
		return
	}
	v := a.As16()
	copy(dst, v[:])
}

func parseDiagAnswer(b []byte) (uint32, error) {
	if len(b) < nlmsgHdrLen {
		return 0, fmt.Errorf("sock_diag: short answer (%d bytes)", len(b))
	}
	ne := binary.NativeEndian
	switch typ := ne.Uint16(b[4:]); typ {
	case nlmsgTypeError:
		if len(b) < nlmsgHdrLen+4 {
			return 0, fmt.Errorf("sock_diag: short error")
		}
		errno := -int32(ne.Uint32(b[nlmsgHdrLen:]))
		if errno == 0 {
			return 0, fmt.Errorf("sock_diag: empty answer")
		}
		if syscall.Errno(errno) == unix.ENOENT {
			return 0, errSocketGone
		}
		return 0, fmt.Errorf("sock_diag: %w", syscall.Errno(errno))
	case sockDiagByFam:
		if len(b) < nlmsgHdrLen+diagMsgLen {
			return 0, fmt.Errorf("sock_diag: short inet_diag_msg (%d bytes)", len(b))
		}
		return ne.Uint32(b[nlmsgHdrLen+diagWQueueOff:]), nil
	default:
		return 0, fmt.Errorf("sock_diag: unexpected message type %d", typ)
	}
}

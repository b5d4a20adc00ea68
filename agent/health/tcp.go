package health

import (
	"context"
	"fmt"
	"net"
	"strconv"
)

// tcpCheck passes when a TCP connection to addr can be opened. It sends no
// data and closes the connection at once.
type tcpCheck struct {
	addr string
}

// NewTCP returns a check that connects to addr ("127.0.0.1:5060",
// "[::1]:5060" or "localhost:5060").
func NewTCP(addr string) (Checker, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tcp check %q: %w", addr, err)
	}
	if host == "" {
		return nil, fmt.Errorf("tcp check %q: empty host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return nil, fmt.Errorf("tcp check %q: port must be 1..65535", addr)
	}
	return &tcpCheck{addr: addr}, nil
}

func (c *tcpCheck) Check(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", c.addr)
	if err != nil {
		return err // *net.OpError already reads "dial tcp 127.0.0.1:5060: connect: connection refused"
	}
	return conn.Close()
}

func (c *tcpCheck) String() string { return "tcp " + c.addr }

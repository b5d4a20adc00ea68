package netns

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
	"time"

	"golang.org/x/sys/unix"
)

// Do runs fn on a locked OS thread that has been switched into the namespace,
// then switches the thread back. Sockets fn creates stay in the namespace for
// their whole life, so a listener or UDP socket made here can be used from any
// goroutine afterwards. Goroutines fn starts do not run in the namespace.
//
// If the thread cannot be switched back it stays locked, so the Go runtime
// terminates it instead of reusing a thread in the wrong namespace. A panic in
// fn is returned as an error.
func (n *NS) Do(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// Not deferred: a thread that failed to switch back must stay locked.
		orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open current network namespace: %w", err)
			return
		}
		defer orig.Close()
		target, err := os.Open("/run/netns/" + n.Name)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("open namespace %s: %w", n.Name, err)
			return
		}
		defer target.Close()
		if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("enter namespace %s: %w", n.Name, err)
			return
		}
		fnErr := runInNS(fn)
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("return from namespace %s (thread discarded): %w", n.Name, err)
			return // still locked: the runtime kills this thread
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

func runInNS(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic inside namespace: %v", r)
		}
	}()
	return fn()
}

// DialContext dials from inside the namespace.
func (n *NS) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	var conn net.Conn
	err := n.Do(func() error {
		var d net.Dialer
		var err error
		conn, err = d.DialContext(ctx, network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("dial %s %s from %s: %w", network, address, n.Name, err)
	}
	return conn, nil
}

// Listen opens a stream listener inside the namespace.
func (n *NS) Listen(network, address string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() error {
		var err error
		l, err = net.Listen(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, address, n.Name, err)
	}
	return l, nil
}

// ListenPacket opens a packet socket (for example "udp", "198.51.100.1:3784")
// inside the namespace.
func (n *NS) ListenPacket(network, address string) (net.PacketConn, error) {
	var pc net.PacketConn
	err := n.Do(func() error {
		var err error
		pc, err = net.ListenPacket(network, address)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listen %s %s in %s: %w", network, address, n.Name, err)
	}
	return pc, nil
}

// HTTPClient returns a client whose connections are dialled inside the
// namespace, for an rsagent HTTP endpoint listening there. Connections are not
// kept alive, so nothing outlives a request.
func (n *NS) HTTPClient() *http.Client {
	return &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			DialContext:       n.DialContext,
			DisableKeepAlives: true,
			Proxy:             nil,
		},
	}
}

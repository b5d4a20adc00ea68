package health

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestNewTCP(t *testing.T) {
	tests := []struct {
		addr string
		ok   bool
	}{
		{"127.0.0.1:5060", true},
		{"[::1]:5060", true},
		{"localhost:5060", true},
		{"127.0.0.1", false},
		{":5060", false},
		{"127.0.0.1:0", false},
		{"127.0.0.1:65536", false},
		{"127.0.0.1:sip", false},
	}
	for _, tt := range tests {
		name := "address " + tt.addr + " is accepted"
		if !tt.ok {
			name = "address " + tt.addr + " is refused"
		}
		t.Run(name, func(t *testing.T) {
			c, err := NewTCP(tt.addr)
			if (err == nil) != tt.ok {
				t.Fatalf("NewTCP(%q) = %v", tt.addr, err)
			}
			if tt.ok && c.String() != "tcp "+tt.addr {
				t.Errorf("String() = %q", c.String())
			}
		})
	}
}

func TestTCPCheck(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	c, err := NewTCP(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()

	t.Run("a listening port passes", func(t *testing.T) {
		if err := c.Check(ctx); err != nil {
			t.Errorf("Check = %v", err)
		}
	})
	t.Run("a closed port fails with connection refused", func(t *testing.T) {
		ln.Close()
		err := c.Check(ctx)
		if err == nil || !strings.Contains(err.Error(), "refused") {
			t.Errorf("Check = %v, want connection refused", err)
		}
	})
	t.Run("a done context fails without dialling", func(t *testing.T) {
		done, cancel := context.WithCancel(ctx)
		cancel()
		if err := c.Check(done); err == nil {
			t.Error("Check passed with a cancelled context")
		}
	})
}

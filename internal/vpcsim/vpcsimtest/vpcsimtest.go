// Package vpcsimtest holds the emulator set-up that tests in several
// packages repeat. Only tests import it.
package vpcsimtest

import (
	"testing"

	"github.com/rsagent/rsagent/internal/vpcsim"
)

// StartRouteServer builds the emulated Route Server for v from cfg,
// enables its propagation into the main table, starts it, and stops it when
// the test ends; an error from stopping fails the test.
func StartRouteServer(tb testing.TB, v *vpcsim.VPC, cfg vpcsim.RouteServerConfig) *vpcsim.RouteServer {
	tb.Helper()
	rs, err := vpcsim.NewRouteServer(v, cfg)
	if err != nil {
		tb.Fatal(err)
	}
	if err := v.EnablePropagation(rs.ID(), v.MainTableID()); err != nil {
		tb.Fatal(err)
	}
	stop, err := rs.Start()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := stop(); err != nil {
			tb.Errorf("emulated route server: %v", err)
		}
	})
	return rs
}

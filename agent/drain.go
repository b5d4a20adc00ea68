package agent

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"slices"

	"github.com/rsagent/rsagent/agent/health"
	"github.com/rsagent/rsagent/bgp"
)

// DrainResult says what a drain or undrain did.
type DrainResult struct {
	Services []string
	// Withdrawn are the prefixes the drain took out of BGP; each was
	// acknowledged by every peer that had it.
	Withdrawn []netip.Prefix
	// Warnings are peers whose delivery could not be waited for because
	// their session is down: a peer that persists routes (Route Server's
	// PersistRoutes) may keep ours until the session returns.
	Warnings []string
}

// ErrNoSuchService: a drain named a service the config does not have.
var ErrNoSuchService = errors.New("no such service")

// drainWait is a Drain waiting for its services to be disabled and the
// withdrawal to be taken by BGP.
type drainWait struct {
	names  []string
	before []advertised
	done   chan drainReady
}

type drainReady struct {
	withdrawn []netip.Prefix
	err       error
}

// Drain withdraws one service (or all with name "") without touching the
// sessions, and returns once every peer that had the service's prefixes has
// acknowledged their withdrawal: written to the session by GoBGP and
// acknowledged by the peer's TCP stack. It fails (and says why, peer by peer)
// when that cannot be confirmed before ctx ends, when BGP refused the change,
// or when a session ended first. An operator script can therefore run
// `rsagent drain voice && ip addr del …` without blackholing traffic, the
// ExaBGP trap of removing the address before the withdrawal left.
//
// Undrain (drained false) returns at once; the service comes back through
// rising.
func (a *Agent) Drain(ctx context.Context, name string, drained bool) (DrainResult, error) {
	var res DrainResult
	var mark map[netip.Addr]uint64
	if drained {
		// Before the change, so that UPDATEs queued earlier are not taken
		// for ours.
		mark = a.speaker.UpdatesMark()
	}
	w := &drainWait{done: make(chan drainReady, 1)}
	err := a.do(ctx, func(c *core) {
		for n, r := range c.services {
			if name == "" || n == name {
				res.Services = append(res.Services, n)
				r.mon.SetDrained(drained)
			}
		}
		slices.Sort(res.Services)
		if len(res.Services) == 0 || !drained {
			return
		}
		w.names, w.before = res.Services, c.adverts
		c.drains = append(c.drains, w)
		c.checkDrains()
	})
	switch {
	case err != nil:
		return res, err
	case len(res.Services) == 0:
		return res, fmt.Errorf("%w: %q", ErrNoSuchService, name)
	case !drained:
		return res, nil
	}
	var ready drainReady
	select {
	case ready = <-w.done:
	case <-ctx.Done():
		_ = a.do(context.WithoutCancel(ctx), func(c *core) { c.forgetDrain(w) })
		return res, fmt.Errorf("drain %v: the health monitors did not disable the services in time: %w", res.Services, ctx.Err())
	}
	if ready.err != nil {
		return res, fmt.Errorf("drain %v: %w", res.Services, ready.err)
	}
	res.Withdrawn = ready.withdrawn
	if len(res.Withdrawn) == 0 {
		return res, nil // nothing was announced for these services
	}
	for _, p := range a.speaker.Peers() {
		if p.State != bgp.StateEstablished {
			res.Warnings = append(res.Warnings, fmt.Sprintf("peer %s is %s: it gets the withdrawal when its session returns; a peer that persists routes (Route Server's PersistRoutes) may keep ours until then", p.Address, p.State))
		}
	}
	if err := a.speaker.WaitUpdatesSent(ctx, mark, families(res.Withdrawn)); err != nil {
		return res, fmt.Errorf("drain %v: withdrawal of %v: %w", res.Services, res.Withdrawn, err)
	}
	return res, nil
}

// families is how many address families ps spans: GoBGP packs a family's
// withdrawals into as few UPDATEs as fit, so at least one each.
func families(ps []netip.Prefix) uint64 {
	var v4, v6 uint64
	for _, p := range ps {
		if p.Addr().Is4() {
			v4 = 1
		} else {
			v6 = 1
		}
	}
	return v4 + v6
}

// checkDrains answers every drain whose services are all disabled: with the
// prefixes that left the set BGP holds, or with why BGP did not take it.
func (c *core) checkDrains() {
	keep := c.drains[:0]
	for _, w := range c.drains {
		if !c.allDisabled(w.names) {
			keep = append(keep, w)
			continue
		}
		if c.setErr != nil {
			w.done <- drainReady{err: fmt.Errorf("bgp did not take the withdrawal: %w", c.setErr)}
			continue
		}
		var gone []netip.Prefix
		for _, ad := range w.before {
			if !slices.ContainsFunc(c.adverts, func(x advertised) bool { return x.Prefix == ad.Prefix }) {
				gone = append(gone, ad.Prefix)
			}
		}
		w.done <- drainReady{withdrawn: gone}
	}
	clear(c.drains[len(keep):])
	c.drains = keep
}

func (c *core) forgetDrain(w *drainWait) {
	c.drains = slices.DeleteFunc(c.drains, func(x *drainWait) bool { return x == w })
}

// allDisabled: every named service is disabled, or gone (a reload removed it,
// which withdrew it too).
func (c *core) allDisabled(names []string) bool {
	for _, n := range names {
		if r, ok := c.services[n]; ok && r.state != health.StateDisabled {
			return false
		}
	}
	return true
}

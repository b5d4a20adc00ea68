package bgp

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"time"

	"github.com/google/uuid"
	"github.com/osrg/gobgp/v4/pkg/apiutil"
	"github.com/osrg/gobgp/v4/pkg/packet/bgp"
)

// appliedPath is an advertisement GoBGP holds, with the UUID AddPath gave it.
type appliedPath struct {
	adv  Advertisement
	uuid uuid.UUID
}

// Set replaces the whole desired set of advertisements. Only the difference
// from what GoBGP already holds is applied: new or changed prefixes are
// (re-)added, which GoBGP treats as an implicit replace, and missing ones are
// withdrawn; an identical set sends nothing. Before Run the set is stored
// and applied on start. On a partial failure the next Set (or Run's retry)
// applies what is still missing.
func (s *Speaker) Set(advs []Advertisement) error {
	want, err := normalizeAdvertisements(advs, s.cfg)
	if err != nil {
		return fmt.Errorf("set bgp advertisements: %w", err)
	}
	return s.do(func(o *owner) error {
		if o.closing {
			return ErrClosed
		}
		o.desired = want
		if o.srv == nil {
			return nil
		}
		return o.applyAdvertisements()
	})
}

// Advertised returns the advertisements GoBGP currently holds, sorted by prefix.
func (s *Speaker) Advertised() []Advertisement {
	return slices.Clone(s.snap.Load().advertised)
}

func (o *owner) applyAdvertisements() error {
	have := make(map[netip.Prefix]Advertisement, len(o.applied))
	for p, a := range o.applied {
		have[p] = a.adv
	}
	d := diffAdvertisements(have, o.desired)
	if d.empty() {
		return nil
	}
	log := o.s.log
	var errs []error
	// Withdraw first: with the 100-routes-per-peer limit of Route Server a
	// replace-heavy set should never be briefly over the limit.
	for _, p := range d.del {
		if err := o.srv.DeletePath(apiutil.DeletePathRequest{UUIDs: []uuid.UUID{o.applied[p].uuid}}); err != nil {
			errs = append(errs, fmt.Errorf("withdraw %s: %w", p, err))
			continue
		}
		delete(o.applied, p)
		log.Info("bgp prefix withdrawn", "prefix", p)
	}
	for _, a := range d.put {
		path, err := nativePath(a, o.s.cfg.ASN, time.Now())
		if err != nil {
			errs = append(errs, fmt.Errorf("build path for %s: %w", a.Prefix, err))
			continue
		}
		resp, err := o.srv.AddPath(apiutil.AddPathRequest{Paths: []*apiutil.Path{path}})
		if err == nil && len(resp) == 1 {
			err = resp[0].Error
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("advertise %s: %w", a.Prefix, err))
			continue
		}
		_, replaced := o.applied[a.Prefix]
		o.applied[a.Prefix] = appliedPath{adv: a, uuid: resp[0].UUID}
		log.Info("bgp prefix advertised", "prefix", a.Prefix, "next_hop", a.NextHop,
			"med", a.MED, "as_path_prepend", a.ASPathPrepend, "replaced", replaced)
	}
	return errors.Join(errs...)
}

// nativePath builds the GoBGP path for a: ORIGIN IGP, NEXT_HOP (IPv4) or
// MP_REACH_NLRI (IPv6), MED, and an AS_PATH of prepend copies of asn (GoBGP
// adds asn once more on eBGP export). GoBGP needs Family set, and Age, or
// the CLI shows the route as 20,000 days old.
func nativePath(a Advertisement, asn uint32, now time.Time) (*apiutil.Path, error) {
	nlri, err := bgp.NewIPAddrPrefix(a.Prefix)
	if err != nil {
		return nil, err
	}
	var segments []bgp.AsPathParamInterface
	if a.ASPathPrepend > 0 {
		segments = append(segments, bgp.NewAs4PathParam(bgp.BGP_ASPATH_ATTR_TYPE_SEQ, slices.Repeat([]uint32{asn}, int(a.ASPathPrepend))))
	}
	attrs := []bgp.PathAttributeInterface{
		bgp.NewPathAttributeOrigin(bgp.BGP_ORIGIN_ATTR_TYPE_IGP),
		bgp.NewPathAttributeAsPath(segments),
		bgp.NewPathAttributeMultiExitDisc(a.MED),
	}
	family := bgp.RF_IPv4_UC
	if a.Prefix.Addr().Is4() {
		nh, err := bgp.NewPathAttributeNextHop(a.NextHop)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, nh)
	} else {
		family = bgp.RF_IPv6_UC
		mp, err := bgp.NewPathAttributeMpReachNLRI(family, []bgp.PathNLRI{{NLRI: nlri}}, a.NextHop)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, mp)
	}
	return &apiutil.Path{Family: family, Nlri: nlri, Attrs: attrs, Age: now.Unix()}, nil
}

// deleteAll withdraws every locally originated path.
func deleteAll() apiutil.DeletePathRequest { return apiutil.DeletePathRequest{DeleteAll: true} }

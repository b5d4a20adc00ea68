package vpcsim

import (
	"context"
	"errors"
	"net/netip"
	"regexp"
	"slices"
	"testing"
	"time"
)

func TestVPCModel(t *testing.T) {
	newVPC := func() *VPC { return NewVPC(testVPCID, prefix("10.0.0.0/16")) }

	t.Run("a new VPC has a main table holding only the local route", func(t *testing.T) {
		v := newVPC()
		tables := v.Tables()
		if len(tables) != 1 || tables[0].ID != v.MainTableID() || !tables[0].Main {
			t.Fatalf("tables = %+v", tables)
		}
		want := Route{Destination: prefix("10.0.0.0/16"), GatewayID: "local", Origin: OriginCreateRouteTable, State: StateActive}
		if !slices.Equal(tables[0].Routes, []Route{want}) {
			t.Errorf("routes = %+v, want %+v", tables[0].Routes, want)
		}
	})
	t.Run("ids look like EC2's and differ between VPCs", func(t *testing.T) {
		v, w := newVPC(), NewVPC("vpc-0fedcba9876543210", prefix("10.1.0.0/16"))
		shapes := map[string]*regexp.Regexp{
			v.MainTableID():   regexp.MustCompile(`^rtb-[0-9a-f]{17}$`),
			v.AddRouteTable(): regexp.MustCompile(`^rtb-[0-9a-f]{17}$`),
			v.AddNetworkInterface(netip.MustParseAddr("10.0.1.1")): regexp.MustCompile(`^eni-[0-9a-f]{17}$`),
			v.AddRouteServer(65000):                                regexp.MustCompile(`^rs-[0-9a-f]{17}$`),
		}
		for id, re := range shapes {
			if !re.MatchString(id) {
				t.Errorf("id %q does not match %s", id, re)
			}
		}
		if v.MainTableID() == w.MainTableID() {
			t.Errorf("two VPCs share the table id %s", v.MainTableID())
		}
	})
	t.Run("PutRoute masks, defaults origin and state, and replaces", func(t *testing.T) {
		v := newVPC()
		eni := v.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
		if err := v.PutRoute(v.MainTableID(), Route{Destination: prefix("203.0.113.9/24"), NetworkInterface: eni}); err != nil {
			t.Fatal(err)
		}
		if err := v.PutRoute(v.MainTableID(), Route{Destination: prefix("203.0.113.0/24"), NetworkInterface: eni,
			IPAddress: "10.0.1.10", Origin: OriginAdvertisement}); err != nil {
			t.Fatal(err)
		}
		tbl, _ := v.Table(v.MainTableID())
		r, ok := tbl.Route(prefix("203.0.113.0/24"))
		if !ok || len(tbl.Routes) != 2 || r.Origin != OriginAdvertisement || r.State != StateActive || r.IPAddress != "10.0.1.10" {
			t.Errorf("table = %+v", tbl)
		}
	})
	t.Run("routes come back sorted IPv4 first", func(t *testing.T) {
		v := newVPC()
		for _, p := range []string{"2001:db8::/32", "203.0.113.0/24", "198.51.100.0/24", "198.51.100.0/25"} {
			if err := v.PutRoute(v.MainTableID(), Route{Destination: prefix(p), GatewayID: "igw-1"}); err != nil {
				t.Fatal(err)
			}
		}
		tbl, _ := v.Table(v.MainTableID())
		var got []string
		for _, r := range tbl.Routes {
			got = append(got, r.Destination.String())
		}
		want := []string{"10.0.0.0/16", "198.51.100.0/24", "198.51.100.0/25", "203.0.113.0/24", "2001:db8::/32"}
		if !slices.Equal(got, want) {
			t.Errorf("order = %v, want %v", got, want)
		}
	})
	t.Run("Table returns a deep copy", func(t *testing.T) {
		v := newVPC()
		tbl, _ := v.Table(v.MainTableID())
		tbl.Routes[0].GatewayID = "igw-mutated"
		again, _ := v.Table(v.MainTableID())
		if again.Routes[0].GatewayID != "local" {
			t.Error("changing a returned table changed the VPC")
		}
	})
	t.Run("removing an ENI blackholes the routes through it", func(t *testing.T) {
		v := newVPC()
		eni := v.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
		if err := v.PutRoute(v.MainTableID(), Route{Destination: prefix("203.0.113.0/24"), NetworkInterface: eni}); err != nil {
			t.Fatal(err)
		}
		if err := v.RemoveNetworkInterface(eni); err != nil {
			t.Fatal(err)
		}
		tbl, _ := v.Table(v.MainTableID())
		if r, _ := tbl.Route(prefix("203.0.113.0/24")); r.State != StateBlackhole {
			t.Errorf("route = %+v, want blackhole", r)
		}
	})
	t.Run("RemoveRoute of a missing route is InvalidRoute.NotFound", func(t *testing.T) {
		v := newVPC()
		err := v.RemoveRoute(v.MainTableID(), prefix("203.0.113.0/24"))
		var ae *APIError
		if !errors.As(err, &ae) || ae.Code != CodeRouteNotFound {
			t.Errorf("err = %v, want %s", err, CodeRouteNotFound)
		}
	})
	t.Run("operations on an unknown table are InvalidRouteTableID.NotFound", func(t *testing.T) {
		v := newVPC()
		for name, err := range map[string]error{
			"PutRoute":        v.PutRoute("rtb-nope", Route{Destination: prefix("203.0.113.0/24")}),
			"RemoveRoute":     v.RemoveRoute("rtb-nope", prefix("203.0.113.0/24")),
			"AssociateSubnet": v.AssociateSubnet("rtb-nope", "subnet-1"),
		} {
			var ae *APIError
			if !errors.As(err, &ae) || ae.Code != CodeRouteTableNotFound {
				t.Errorf("%s: err = %v, want %s", name, err, CodeRouteTableNotFound)
			}
		}
	})
	t.Run("a subnet moves between tables", func(t *testing.T) {
		v := newVPC()
		a, b := v.AddRouteTable(), v.AddRouteTable()
		for _, rtb := range []string{a, b} {
			if err := v.AssociateSubnet(rtb, "subnet-1"); err != nil {
				t.Fatal(err)
			}
		}
		ta, _ := v.Table(a)
		tb, _ := v.Table(b)
		if len(ta.Subnets) != 0 || !slices.Equal(tb.Subnets, []string{"subnet-1"}) {
			t.Errorf("subnets: a=%v b=%v, want the subnet on b only", ta.Subnets, tb.Subnets)
		}
	})
	t.Run("propagations show on the table and can be disabled", func(t *testing.T) {
		v := newVPC()
		rs := v.AddRouteServer(65000)
		if err := v.EnablePropagation(rs, v.MainTableID()); err != nil {
			t.Fatal(err)
		}
		tbl, _ := v.Table(v.MainTableID())
		if !slices.Equal(tbl.Propagations, []string{rs}) || !slices.Equal(v.PropagatedTables(rs), []string{v.MainTableID()}) {
			t.Errorf("propagations = %v / %v", tbl.Propagations, v.PropagatedTables(rs))
		}
		if err := v.DisablePropagation(rs, v.MainTableID()); err != nil {
			t.Fatal(err)
		}
		if got := v.PropagatedTables(rs); len(got) != 0 {
			t.Errorf("after disable: %v", got)
		}
		if err := v.EnablePropagation("rs-nope", v.MainTableID()); err == nil {
			t.Error("enabling an unknown route server succeeded")
		}
	})
	t.Run("WaitGeneration wakes on a change and honours its context", func(t *testing.T) {
		v := newVPC()
		gen := v.Generation()
		done := make(chan uint64)
		go func() {
			g, _ := v.WaitGeneration(context.Background(), gen)
			done <- g
		}()
		v.AddRouteTable()
		if g := <-done; g == gen {
			t.Errorf("woke with the old generation %d", g)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		defer cancel()
		if _, err := v.WaitGeneration(ctx, v.Generation()); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("err = %v, want deadline exceeded", err)
		}
	})
}

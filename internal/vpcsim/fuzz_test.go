package vpcsim

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Ids of fuzzVPC, which the seed corpus names.
const (
	fuzzMainTable   = "rtb-0da0b37e05a000001"
	fuzzCustomTable = "rtb-0da0b37e05a000003"
	fuzzENI         = "eni-0da0b37e05a000004"
	fuzzRouteServer = "rs-0da0b37e05a000005"
)

// fuzzVPC is deterministic, so seeds can name its resources.
func fuzzVPC() *VPC {
	v := NewVPC("vpc-fuzz", netip.MustParsePrefix("10.0.0.0/16"))
	v.AddRouteTable()
	eni := v.AddNetworkInterface(netip.MustParseAddr("10.0.1.10"))
	rs := v.AddRouteServer(65000)
	_ = v.EnablePropagation(rs, v.MainTableID())
	_ = v.PutRoute(v.MainTableID(), Route{Destination: netip.MustParsePrefix("203.0.113.0/24"),
		NetworkInterface: eni, IPAddress: "10.0.1.10", Origin: OriginAdvertisement})
	return v
}

// FuzzServeQuery feeds random form bodies to the dispatcher: it must never
// panic, must always answer well-formed XML, and must not change the VPC
// unless it answered a successful mutating action.
func FuzzServeQuery(f *testing.F) {
	f.Fuzz(func(t *testing.T, body string) {
		v := fuzzVPC()
		s := NewServer(v, Options{Mutating: Bucket{Size: -1}, NonMutating: Bucket{Size: -1}})
		before := v.Generation()
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, signedRequest(body))

		if err := wellFormed(rec.Body.Bytes()); err != nil {
			t.Fatalf("status %d, body not well-formed XML (%v): %q", rec.Code, err, rec.Body)
		}
		log := s.Log()
		if len(log) != 1 || log[0].Status != rec.Code {
			t.Fatalf("log = %+v, want one entry with status %d", log, rec.Code)
		}
		changed := v.Generation() != before
		if changed && (rec.Code != http.StatusOK || !log[0].Mutating) {
			t.Fatalf("VPC changed on status %d for action %q", rec.Code, log[0].Action)
		}
		if rec.Code == http.StatusOK && !strings.Contains(rec.Body.String(), "<"+log[0].Action+"Response ") {
			t.Fatalf("200 without a %sResponse: %s", log[0].Action, rec.Body)
		}
	})
}

func wellFormed(b []byte) error {
	d := xml.NewDecoder(bytes.NewReader(b))
	elements := 0
	for {
		tok, err := d.Token()
		if errors.Is(err, io.EOF) {
			if elements == 0 {
				return errors.New("no elements")
			}
			return nil
		}
		if err != nil {
			return err
		}
		if _, ok := tok.(xml.StartElement); ok {
			elements++
		}
	}
}

func TestFuzzSeedCorpusExists(t *testing.T) {
	seeds, err := filepath.Glob("testdata/fuzz/FuzzServeQuery/*")
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) < 5 {
		t.Fatalf("found %d seeds for FuzzServeQuery, want at least 5", len(seeds))
	}
}

// The seeds name these ids; if the id scheme changes, the seeds must follow
// or the corpus stops reaching the handlers' success paths.
func TestFuzzVPCIDsMatchTheSeeds(t *testing.T) {
	v := fuzzVPC()
	got := []string{v.MainTableID(), v.Tables()[1].ID, v.networkInterfaces()[0].id, v.routeServerList()[0].id}
	want := []string{fuzzMainTable, fuzzCustomTable, fuzzENI, fuzzRouteServer}
	if !slices.Equal(got, want) {
		t.Fatalf("fuzz VPC ids = %v, want %v: regenerate the seeds", got, want)
	}
}

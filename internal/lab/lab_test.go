package lab

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"
)

func testLogger() *slog.Logger {
	if os.Getenv("RSAGENT_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// TestLab runs the whole lab once, on loopback only, and checks that every
// scenario ran and the tables moved to the right appliance in a sane time.
func TestLab(t *testing.T) {
	if testing.Short() {
		t.Skip("the lab takes about 20 s")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	rep, err := Run(ctx, Options{Logger: testLogger(), Progress: func(s string) { t.Log(s) }})
	var table bytes.Buffer
	if werr := rep.WriteTable(&table); werr != nil {
		t.Fatal(werr)
	}
	t.Logf("\n%s", table.String())
	if err != nil {
		t.Fatalf("lab: %v", err)
	}
	if len(rep.Results) != len(scenarios)+1 {
		t.Fatalf("%d results, want one per scenario (%d) and direct mode's", len(rep.Results), len(scenarios))
	}
	for _, r := range rep.Results {
		t.Run(r.Scenario+" switches the tables to the "+r.SwitchedTo, func(t *testing.T) {
			if r.Skipped != "" {
				t.Fatalf("skipped: %s", r.Skipped)
			}
			if r.Error != "" || r.Main <= 0 || r.Custom <= 0 {
				t.Fatalf("main %s, custom %s, error %q", r.Main, r.Custom, r.Error)
			}
			// Sane, not tight: a loaded CI machine may be slow, but a
			// failover that needs the scenario timeout is broken.
			if bound := 4*r.MainBudget + 2*time.Second; r.Main > bound {
				t.Errorf("main table switched after %s, more than %s", r.Main, bound)
			}
			if bound := 4*r.CustomBudget + 2*time.Second; r.Custom > bound {
				t.Errorf("custom tables switched after %s, more than %s", r.Custom, bound)
			}
		})
	}
	t.Run("no scenario writes a route twice: the owner-first rule holds", func(t *testing.T) {
		// One prefix in two custom tables: a switch needs two writes. Who
		// made them is in the table (EC2 WRITES ACTIVE/STANDBY).
		direct := directScenario(Options{}).Scenario // no Route Server, no HA pair
		for _, r := range rep.Results {
			if r.Skipped != "" || r.Scenario == direct {
				continue
			}
			if r.Writes == nil || r.Writes["active"]+r.Writes["standby"] > 2 {
				t.Errorf("%s: writes %v, want at most 2 in all", r.Scenario, r.Writes)
			}
		}
	})
	t.Run("the JSON report carries every scenario", func(t *testing.T) {
		var b bytes.Buffer
		if err := rep.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		var got struct {
			Results []struct {
				Scenario    string  `json:"scenario"`
				MainSeconds float64 `json:"main_table_seconds"`
			} `json:"results"`
		}
		if err := json.Unmarshal(b.Bytes(), &got); err != nil {
			t.Fatalf("%v in %s", err, b.String())
		}
		if len(got.Results) != len(rep.Results) || !strings.Contains(b.String(), `"custom_tables_seconds"`) {
			t.Errorf("JSON report = %s", b.String())
		}
	})
}

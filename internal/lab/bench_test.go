package lab

import (
	"context"
	"testing"
	"time"
)

// BenchmarkLabFailover runs the whole lab and reports each scenario's
// figures beside its goal. Run it with -benchtime=1x: one lab takes ~15 s.
func BenchmarkLabFailover(b *testing.B) {
	metrics := map[string]string{
		"health check fails on the active":          "health",
		"active recovers (failback)":                "health_failback",
		"active unreachable (BFD)":                  "bfd",
		"active reachable again (failback)":         "bfd_failback",
		"graceful shutdown of the active (SIGTERM)": "graceful",
		"direct mode: a host dies":                  "direct",
	}
	sums := map[string][2]time.Duration{}
	var last Report
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		rep, err := Run(ctx, Options{Logger: testLogger()})
		cancel()
		if err != nil {
			b.Fatalf("lab: %v", err)
		}
		for _, r := range rep.Results {
			s := sums[r.Scenario]
			s[0] += r.Main
			s[1] += r.Custom
			sums[r.Scenario] = s
		}
		last = rep
	}
	n := time.Duration(max(b.N, 1))
	for _, r := range last.Results {
		key := metrics[r.Scenario]
		if r.Skipped != "" {
			b.Logf("%-45s skipped: %s", r.Scenario, r.Skipped)
			continue
		}
		main, custom := sums[r.Scenario][0]/n, sums[r.Scenario][1]/n
		b.ReportMetric(float64(main.Microseconds())/1000, key+"_main_ms")
		b.ReportMetric(float64(custom.Microseconds())/1000, key+"_custom_ms")
		b.Logf("%-45s main %7s (goal <= %7s)  custom %7s (goal <= %7s)  EC2 writes active/standby %s (goal: 2 by the appliance the tables moved to)  goal: %s",
			r.Scenario, round(main), round(r.MainBudget), round(custom), round(r.CustomBudget), writesCell(r), r.Expected)
	}
	for _, note := range last.Notes {
		b.Logf("note: %s", note)
	}
}

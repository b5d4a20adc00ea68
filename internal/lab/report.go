package lab

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
	"time"
)

// Result is one scenario's measurement.
type Result struct {
	Scenario string
	Fault    string
	// SwitchedTo names the appliance the tables had to move to.
	SwitchedTo string
	// Main is from the fault to the main table (Route Server propagation)
	// pointing at SwitchedTo's ENI; Custom to every custom table doing so
	// (the reconciler's copies). Zero when not reached.
	Main, Custom time.Duration
	// Expected explains the budget; MainBudget and CustomBudget are its
	// figures, measured from the fault.
	Expected                 string
	MainBudget, CustomBudget time.Duration
	// Skipped says why the scenario did not run; Error why it failed.
	Skipped, Error string
	// Writes are the route writes each agent's reconciler made from this
	// fault to the next one (or the end), by agent name: the owner-first
	// rule at work (docs/reconcile.md).
	Writes map[string]uint64
}

// writesCell prints an agent pair's writes as active/standby.
func writesCell(x Result) string {
	if x.Writes == nil {
		return "-"
	}
	return fmt.Sprintf("%d/%d", x.Writes["active"], x.Writes["standby"])
}

// WithinBudget reports whether both tables switched within their budgets.
func (r Result) WithinBudget() bool {
	return r.Skipped == "" && r.Error == "" && r.Main > 0 && r.Custom > 0 &&
		r.Main <= r.MainBudget && r.Custom <= r.CustomBudget
}

// Settings are the timers the lab ran with.
type Settings struct {
	HealthInterval, HealthFastInterval time.Duration
	Rise, Fall                         int
	BFDInterval                        time.Duration
	BFDMultiplier                      uint8
	ReconcileInterval                  time.Duration
	DirectInterval                     time.Duration
	DirectFall                         int
}

func settingsOf(o Options) Settings {
	return Settings{HealthInterval: o.HealthInterval, HealthFastInterval: o.HealthFastInterval, Rise: o.Rise, Fall: o.Fall,
		BFDInterval: o.BFDInterval, BFDMultiplier: o.BFDMultiplier, ReconcileInterval: o.ReconcileInterval,
		DirectInterval: o.DirectInterval, DirectFall: o.DirectFall}
}

// Report is the outcome of one lab run.
type Report struct {
	Results  []Result
	Settings Settings
	// BFD is whether the pair ran with BFD.
	BFD   bool
	Notes []string
	Took  time.Duration
}

// WriteTable prints the timing table for a human.
func (r Report) WriteTable(w io.Writer) error {
	s := r.Settings
	fmt.Fprintf(w, "rsagent lab: active 127.0.0.10 (prepend 0) / standby 127.0.0.11 (prepend 2), 2 Route Server endpoints, main + 2 custom tables\n")
	fmt.Fprintf(w, "both agents reconcile; each copies the routes that point at its own ENI and leaves the other's to it (defer_others 2s)\n")
	fmt.Fprintf(w, "timers: health %s/%s rise %d fall %d; BFD %s x %d (on: %v); reconcile every %s\n",
		s.HealthInterval, s.HealthFastInterval, s.Rise, s.Fall, s.BFDInterval, s.BFDMultiplier, r.BFD, s.ReconcileInterval)
	fmt.Fprintf(w, "direct mode: rsagent router, hosts 127.0.0.20 / 127.0.0.21 in a VPC without Route Server (main + 2 custom tables), tcp checks every %s, fall %d\n\n",
		s.DirectInterval, s.DirectFall)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SCENARIO\tTO\tMAIN TABLE AFTER\tALL CUSTOM TABLES AFTER\tEC2 WRITES ACTIVE/STANDBY\tEXPECTED")
	for _, x := range r.Results {
		main, custom := cell(x.Main, x), cell(x.Custom, x)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", x.Scenario, x.SwitchedTo, main, custom, writesCell(x), x.Expected)
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("write the lab table: %w", err)
	}
	for _, x := range r.Results {
		if x.Error != "" {
			fmt.Fprintf(w, "\nFAILED %s: %s\n", x.Scenario, x.Error)
		}
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "\nnote: %s\n", n)
	}
	_, err := fmt.Fprintf(w, "\nlab took %s. Timings are of the emulators on loopback: real AWS adds its own (undocumented) delays.\n", round(r.Took))
	return err
}

func cell(d time.Duration, x Result) string {
	switch {
	case x.Skipped != "":
		return "skipped"
	case d == 0:
		return "-"
	}
	return round(d).String()
}

type jsonResult struct {
	Scenario      string  `json:"scenario"`
	Fault         string  `json:"fault"`
	SwitchedTo    string  `json:"switched_to"`
	MainSeconds   float64 `json:"main_table_seconds"`
	CustomSeconds float64 `json:"custom_tables_seconds"`
	Expected      string  `json:"expected"`
	MainBudget    float64 `json:"main_budget_seconds"`
	CustomBudget  float64 `json:"custom_budget_seconds"`
	WithinBudget  bool    `json:"within_budget"`
	Skipped       string  `json:"skipped,omitempty"`
	Error         string  `json:"error,omitempty"`
	// EC2Writes are each agent's route writes, by agent name.
	EC2Writes map[string]uint64 `json:"ec2_writes,omitempty"`
}

type jsonSettings struct {
	HealthInterval     string `json:"health_interval"`
	HealthFastInterval string `json:"health_fast_interval"`
	Rise               int    `json:"rise"`
	Fall               int    `json:"fall"`
	BFDInterval        string `json:"bfd_interval"`
	BFDMultiplier      uint8  `json:"bfd_multiplier"`
	ReconcileInterval  string `json:"reconcile_interval"`
	DirectInterval     string `json:"direct_check_interval"`
	DirectFall         int    `json:"direct_fall"`
}

type jsonReport struct {
	Results     []jsonResult `json:"results"`
	Settings    jsonSettings `json:"settings"`
	BFD         bool         `json:"bfd"`
	Notes       []string     `json:"notes,omitempty"`
	TookSeconds float64      `json:"took_seconds"`
}

// WriteJSON prints the report as one JSON document; durations are seconds.
func (r Report) WriteJSON(w io.Writer) error {
	s := r.Settings
	out := jsonReport{Results: []jsonResult{}, BFD: r.BFD, Notes: r.Notes, TookSeconds: r.Took.Seconds(),
		Settings: jsonSettings{HealthInterval: s.HealthInterval.String(), HealthFastInterval: s.HealthFastInterval.String(),
			Rise: s.Rise, Fall: s.Fall, BFDInterval: s.BFDInterval.String(), BFDMultiplier: s.BFDMultiplier,
			ReconcileInterval: s.ReconcileInterval.String(), DirectInterval: s.DirectInterval.String(), DirectFall: s.DirectFall}}
	for _, x := range r.Results {
		out.Results = append(out.Results, jsonResult{Scenario: x.Scenario, Fault: x.Fault, SwitchedTo: x.SwitchedTo,
			MainSeconds: x.Main.Seconds(), CustomSeconds: x.Custom.Seconds(), Expected: x.Expected,
			MainBudget: x.MainBudget.Seconds(), CustomBudget: x.CustomBudget.Seconds(), WithinBudget: x.WithinBudget(),
			Skipped: x.Skipped, Error: x.Error, EC2Writes: x.Writes})
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("write the lab report as JSON: %w", err)
	}
	return nil
}

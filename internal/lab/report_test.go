package lab

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestReport(t *testing.T) {
	rep := Report{
		Settings: settingsOf(Options{}.withDefaults()),
		BFD:      false,
		Notes:    []string{"BFD scenarios skipped: test"},
		Took:     3 * time.Second,
		Results: []Result{
			{Scenario: "fast", SwitchedTo: "standby", Main: 250 * time.Millisecond, Custom: 900 * time.Millisecond,
				MainBudget: time.Second, CustomBudget: 2 * time.Second, Expected: "main <= 1s", Writes: map[string]uint64{"active": 0, "standby": 2}},
			{Scenario: "slow", SwitchedTo: "active", Main: 3 * time.Second, Custom: 4 * time.Second,
				MainBudget: time.Second, CustomBudget: 2 * time.Second},
			{Scenario: "no bfd", SwitchedTo: "standby", Skipped: "BFD is off in this run"},
			{Scenario: "broken", SwitchedTo: "standby", Main: 100 * time.Millisecond, Error: "tables did not switch"},
		},
	}
	var table bytes.Buffer
	if err := rep.WriteTable(&table); err != nil {
		t.Fatal(err)
	}
	var js bytes.Buffer
	if err := rep.WriteJSON(&js); err != nil {
		t.Fatal(err)
	}
	var decoded struct {
		Results []struct {
			Scenario     string  `json:"scenario"`
			MainSeconds  float64 `json:"main_table_seconds"`
			WithinBudget bool    `json:"within_budget"`
			Skipped      string  `json:"skipped"`
			Error        string  `json:"error"`
		} `json:"results"`
		BFD   bool     `json:"bfd"`
		Notes []string `json:"notes"`
	}
	if err := json.Unmarshal(js.Bytes(), &decoded); err != nil {
		t.Fatalf("JSON report does not parse: %v\n%s", err, js.String())
	}

	tests := []struct {
		name string
		ok   bool
	}{
		{"the table shows measured times rounded to the millisecond", strings.Contains(table.String(), "250ms") && strings.Contains(table.String(), "900ms")},
		{"the table marks skipped scenarios", strings.Contains(table.String(), "skipped")},
		{"the table names failed scenarios with their error", strings.Contains(table.String(), "FAILED broken: tables did not switch")},
		{"the table carries the notes", strings.Contains(table.String(), "note: BFD scenarios skipped: test")},
		{"the JSON has one entry per scenario", len(decoded.Results) == 4},
		{"the JSON gives durations in seconds", len(decoded.Results) > 0 && decoded.Results[0].MainSeconds == 0.25},
		{"a result within its budgets is marked so", len(decoded.Results) > 1 && decoded.Results[0].WithinBudget && !decoded.Results[1].WithinBudget},
		{"skipped and failed results are not within budget", len(decoded.Results) == 4 && !decoded.Results[2].WithinBudget && !decoded.Results[3].WithinBudget && decoded.Results[2].Skipped != "" && decoded.Results[3].Error != ""},
		{"the JSON does not escape comparison signs", !strings.Contains(js.String(), `\u003c`)},
		{"the table shows each agent's EC2 writes", strings.Contains(table.String(), "EC2 WRITES ACTIVE/STANDBY") && strings.Contains(table.String(), "0/2")},
		{"the JSON carries each agent's EC2 writes", strings.Contains(js.String(), `"ec2_writes": {`) && strings.Contains(js.String(), `"standby": 2`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !tt.ok {
				t.Errorf("not so; table:\n%s\njson:\n%s", table.String(), js.String())
			}
		})
	}
}

package bfd

import "testing"

// TestStepMirrorsRFC5880 walks every (state, event) pair: the expected
// column is RFC 5880 §6.8.6 and §6.8.4 transcribed by hand.
func TestStepMirrorsRFC5880(t *testing.T) {
	type want struct {
		next    State
		setDiag bool
		diag    Diag
		discard bool
	}
	keep := func(s State) want { return want{next: s} }
	tests := []struct {
		from State
		ev   Event
		want want
	}{
		{StateAdminDown, EventRecvAdminDown, want{StateAdminDown, false, 0, true}},
		{StateAdminDown, EventRecvDown, want{StateAdminDown, false, 0, true}},
		{StateAdminDown, EventRecvInit, want{StateAdminDown, false, 0, true}},
		{StateAdminDown, EventRecvUp, want{StateAdminDown, false, 0, true}},
		{StateAdminDown, EventDetectExpired, keep(StateAdminDown)},
		{StateAdminDown, EventAdminDown, keep(StateAdminDown)},
		{StateAdminDown, EventAdminUp, want{StateDown, true, DiagNone, false}},

		{StateDown, EventRecvAdminDown, keep(StateDown)},
		{StateDown, EventRecvDown, want{StateInit, false, 0, false}},
		{StateDown, EventRecvInit, want{StateUp, true, DiagNone, false}},
		{StateDown, EventRecvUp, keep(StateDown)},
		{StateDown, EventDetectExpired, keep(StateDown)},
		{StateDown, EventAdminDown, want{StateAdminDown, true, DiagAdministrativelyDown, false}},
		{StateDown, EventAdminUp, keep(StateDown)},

		{StateInit, EventRecvAdminDown, want{StateDown, true, DiagNeighborSignaledDown, false}},
		{StateInit, EventRecvDown, keep(StateInit)},
		{StateInit, EventRecvInit, want{StateUp, true, DiagNone, false}},
		{StateInit, EventRecvUp, want{StateUp, true, DiagNone, false}},
		{StateInit, EventDetectExpired, want{StateDown, true, DiagControlDetectExpired, false}},
		{StateInit, EventAdminDown, want{StateAdminDown, true, DiagAdministrativelyDown, false}},
		{StateInit, EventAdminUp, keep(StateInit)},

		{StateUp, EventRecvAdminDown, want{StateDown, true, DiagNeighborSignaledDown, false}},
		{StateUp, EventRecvDown, want{StateDown, true, DiagNeighborSignaledDown, false}},
		{StateUp, EventRecvInit, keep(StateUp)},
		{StateUp, EventRecvUp, keep(StateUp)},
		{StateUp, EventDetectExpired, want{StateDown, true, DiagControlDetectExpired, false}},
		{StateUp, EventAdminDown, want{StateAdminDown, true, DiagAdministrativelyDown, false}},
		{StateUp, EventAdminUp, keep(StateUp)},
	}
	if len(tests) != 4*7 {
		t.Fatalf("table covers %d pairs, want all 28", len(tests))
	}
	for _, tc := range tests {
		t.Run(tc.from.String()+" on "+tc.ev.String()+" goes "+tc.want.next.String(), func(t *testing.T) {
			next, act := Step(tc.from, tc.ev)
			got := want{next, act.SetDiag, act.Diag, act.Discard}
			if got != tc.want {
				t.Fatalf("Step(%s, %s) = %+v, want %+v", tc.from, tc.ev, got, tc.want)
			}
		})
	}
}

func TestNamesAreLowercase(t *testing.T) {
	tests := []struct{ got, want string }{
		{StateAdminDown.String(), "admin_down"},
		{StateDown.String(), "down"},
		{StateInit.String(), "init"},
		{StateUp.String(), "up"},
		{DiagControlDetectExpired.String(), "control_detection_time_expired"},
		{DiagNeighborSignaledDown.String(), "neighbor_signaled_session_down"},
		{DiagAdministrativelyDown.String(), "administratively_down"},
		{Diag(31).String(), "diag_31"},
	}
	for _, tc := range tests {
		t.Run(tc.want+" is spelled as documented", func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %q, want %q", tc.got, tc.want)
			}
		})
	}
}

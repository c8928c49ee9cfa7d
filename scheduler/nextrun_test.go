package scheduler

import (
	"testing"
	"time"

	"github.com/newsroom/digest/delivery"
	"github.com/newsroom/digest/subscribers"
)

// The next run lists show prints (List.NextRun) is the fire at which the
// scheduler sends: cron fires the list on every Next of its schedule, and
// decide, reading schedule_runs, runs the first fire of each local date
// and lets the others pass. Checked across spring-forward gaps, autumn's
// repeated hours and schedules that fire more than once a day, asking
// lists show right after each edition and halfway to the next fire.
func TestListsShowNextRunIsTheFireThatSends(t *testing.T) {
	utc := func(y int, m time.Month, d, h int) time.Time { return time.Date(y, m, d, h, 0, 0, 0, time.UTC) }
	tests := []struct {
		name, zone, expr string
		from             time.Time
	}{
		{"spring gap, New York", "America/New_York", "30 2 * * *", utc(2027, 3, 12, 12)},
		{"repeated hour, New York", "America/New_York", "30 1 * * *", utc(2027, 11, 5, 12)},
		{"twice a day over the spring gap, Berlin", "Europe/Berlin", "30 2,20 * * *", utc(2027, 3, 26, 12)},
		{"quarter hours in the repeated hour, Berlin", "Europe/Berlin", "*/15 2 * * *", utc(2027, 10, 29, 12)},
		{"every hour over the autumn change, Sydney", "Australia/Sydney", "0 * * * *", utc(2027, 4, 2, 12)},
		{"half-hour shift, Lord Howe", "Australia/Lord_Howe", "15 2 * * *", utc(2027, 10, 1, 12)},
		{"weekdays over the spring gap, New York", "America/New_York", "0 6 * * 1-5", utc(2027, 3, 10, 12)},
		{"daily descriptor, Berlin autumn", "Europe/Berlin", "@daily", utc(2027, 10, 29, 12)},
	}
	e, _ := newEnv(t, time.Time{}, nil)
	subs := &subscribers.Store{DB: e.db}
	s := &Scheduler{Grace: DefaultGrace, RetryAfter: DefaultRetryAfter, runs: runs{e.db}}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id := e.setSchedule("list"+string(rune('a'+i)), tt.expr, tt.zone)
			list, err := subs.GetListByID(e.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			sched, err := s.parse(list)
			if err != nil {
				t.Fatal(err)
			}
			// settle records what the run did, as execute and skip would.
			settle := func(d decision, at time.Time) {
				t.Helper()
				if d.action == actSkip {
					if err := s.runs.skip(e.ctx, id, d.date, d.fire, at, "test", "too late"); err != nil {
						t.Fatal(err)
					}
					return
				}
				if err := s.runs.start(e.ctx, id, d.date, d.fire, at, "test"); err != nil {
					t.Fatal(err)
				}
				if err := s.runs.finish(e.ctx, id, d.date, OutcomeSent, 0, delivery.Summary{}, "", at); err != nil {
					t.Fatal(err)
				}
			}
			// The daemon has been running: whatever its latest fire
			// before the start called for is done.
			now := tt.from
			if d, err := s.decide(e.ctx, id, sched, now); err != nil {
				t.Fatal(err)
			} else if d.action != actNone {
				settle(d, now)
			}
			for edition := 1; edition <= 5; edition++ {
				printed, ok := list.NextRun(now)
				if !ok {
					t.Fatalf("lists show prints no next run at %s", now)
				}
				fire, d := now, decision{}
				for n := 0; d.action != actRun; n++ {
					if n > 200 {
						t.Fatalf("no fire after %s sends", now)
					}
					if fire = sched.Next(fire); fire.IsZero() {
						t.Fatalf("the schedule stops firing after %s", now)
					}
					if d, err = s.decide(e.ctx, id, sched, fire); err != nil {
						t.Fatal(err)
					}
					if d.action == actSkip {
						t.Fatalf("an on-time fire at %s is skipped", fire)
					}
				}
				if !printed.Equal(fire) {
					t.Fatalf("edition %d: lists show at %s says %s, the scheduler sends at %s (%s)",
						edition, now.In(sched.Location()), printed, fire.In(sched.Location()), d.date)
				}
				// Asked again halfway, before the run, the answer holds.
				if mid := now.Add(fire.Sub(now) / 2); mid.After(now) {
					if again, _ := list.NextRun(mid); !again.Equal(fire) {
						t.Fatalf("lists show at %s says %s, want %s", mid, again, fire)
					}
				}
				settle(d, fire)
				now = fire
			}
		})
	}
}

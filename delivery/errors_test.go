package delivery

import "testing"

func TestRecipientRefusedCountsOnlyAddressFailures(t *testing.T) {
	tests := []struct {
		err  DeliveryError
		want bool
	}{
		{DeliveryError{Code: 550, Stage: stageRcpt, Reply: "550 5.1.1 No such user"}, true},
		{DeliveryError{Code: 552, Stage: stageRcpt, Reply: "552 5.2.2 Mailbox full"}, true},
		{DeliveryError{Code: 550, Stage: stageRcpt, Reply: "550 user unknown"}, true},
		{DeliveryError{Code: 554, Stage: stageRcpt, Reply: "554 5.7.1 Relay access denied"}, false},
		{DeliveryError{Code: 550, Stage: stageMail, Reply: "550 5.1.8 Sender rejected"}, false},
		{DeliveryError{Code: 554, Stage: stageEnd, Reply: "554 5.6.0 Message rejected"}, false},
		{DeliveryError{Code: 450, Stage: stageRcpt, Reply: "450 4.2.0 Mailbox busy", Temporary: true}, false},
	}
	for _, tt := range tests {
		if got := tt.err.RecipientRefused(); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.err.Reply, got, tt.want)
		}
	}
}

func TestBackoffGrowsWithJitterAndCap(t *testing.T) {
	for n := 1; n <= 10; n++ {
		d := backoff(DefaultRetryBase, DefaultRetryMax, n)
		nominal := DefaultRetryBase << (n - 1)
		if nominal > DefaultRetryMax {
			nominal = DefaultRetryMax
		}
		if d < nominal/2 || d >= nominal/2+nominal {
			t.Errorf("attempt %d: %s outside [%s, %s)", n, d, nominal/2, nominal*3/2)
		}
	}
}

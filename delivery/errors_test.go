package delivery

import (
	"fmt"
	"testing"
)

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

func TestBreakerCountsOnlyRelayFaults(t *testing.T) {
	tests := []struct {
		err  DeliveryError
		want verdict
	}{
		{DeliveryError{Code: 550, Stage: stageRcpt, Reply: "550 5.1.1 No such user here"}, healthy},
		{DeliveryError{Code: 552, Stage: stageRcpt, Reply: "552 5.2.2 Mailbox full"}, healthy},
		{DeliveryError{Code: 450, Stage: stageRcpt, Reply: "450 4.2.1 Mailbox busy", Temporary: true}, healthy},
		{DeliveryError{Code: 553, Stage: stageRcpt, Reply: "553 5.1.8 Sender domain does not resolve"}, relayFault},
		{DeliveryError{Code: 0, Stage: stageConnect, Reply: "dial tcp: connection refused", Temporary: true}, relayFault},
		{DeliveryError{Code: 421, Stage: stageMail, Reply: "421 4.3.2 Service not available", Temporary: true}, relayFault},
		{DeliveryError{Code: 535, Stage: stageMail, Reply: "535 5.7.8 Authentication credentials invalid"}, relayFault},
		{DeliveryError{Code: 553, Stage: stageMail, Reply: "553 5.7.1 Sender address rejected"}, relayFault},
		{DeliveryError{Code: 554, Stage: stageRcpt, Reply: "554 5.7.1 Relay access denied"}, relayFault},
		{DeliveryError{Code: 550, Stage: stageMail, Reply: "550 5.1.0 Sender rejected"}, relayFault},
		{DeliveryError{Code: 451, Stage: stageEnd, Reply: "451 4.3.0 Try again later", Temporary: true}, sameReply},
		{DeliveryError{Code: 554, Stage: stageEnd, Reply: "554 5.6.0 Message rejected"}, sameReply},
		{DeliveryError{Code: 550, Stage: stageRcpt, Reply: "550 no such user"}, sameReply},
	}
	for _, tt := range tests {
		if got := tt.err.verdict(); got != tt.want {
			t.Errorf("%s at %s: verdict %d, want %d", tt.err.Reply, tt.err.Stage, got, tt.want)
		}
	}

	b := newBreaker(DefaultBreakerWindow, DefaultBreakerRatio)
	for range 100 {
		b.record(healthy, "550 5.1.1 No such user here")
	}
	if b.open() {
		t.Fatalf("100 dead addresses opened the breaker: %s", b)
	}
	for i := range DefaultBreakerWindow {
		b.record(sameReply, fmt.Sprintf("554 5.6.0 Content rejected (case %d)", i))
	}
	if b.open() {
		t.Fatalf("%d different per-message refusals opened the breaker: %s", DefaultBreakerWindow, b)
	}
	for range DefaultBreakerWindow - 2 {
		b.record(sameReply, "451 4.3.0 Try again later")
	}
	if !b.open() {
		t.Fatalf("the same reply for everyone must open the breaker: %s", b)
	}
	b = newBreaker(DefaultBreakerWindow, DefaultBreakerRatio)
	for i := range DefaultBreakerWindow {
		v := relayFault
		if i%10 == 0 {
			v = healthy
		}
		b.record(v, "421 4.3.2 Service not available")
	}
	if !b.open() {
		t.Fatalf("18 of 20 relay faults must open the breaker: %s", b)
	}
}

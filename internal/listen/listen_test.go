package listen_test

import (
	"errors"
	"net"
	"strings"
	"testing"

	"github.com/newsroom/digest/internal/listen"
	"github.com/newsroom/digest/internal/storetest"
)

func TestTakenPortNamesThePortAndTheFlag(t *testing.T) {
	addr := storetest.HoldPort(t)
	_, port, _ := net.SplitHostPort(addr)
	_, err := listen.TCP(addr, "--http")
	if !errors.Is(err, listen.ErrAddrInUse) {
		t.Fatalf("got %v, want ErrAddrInUse", err)
	}
	for _, want := range []string{"port " + port + " is already in use", addr, "--http"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q does not say %q", err, want)
		}
	}
}

func TestBadAddressSaysTheForm(t *testing.T) {
	_, err := listen.TCP("nonsense", "--addr")
	if err == nil || !strings.Contains(err.Error(), "give --addr as HOST:PORT") {
		t.Fatalf("got %v", err)
	}
}

func TestFreePortListens(t *testing.T) {
	ln, err := listen.TCP("127.0.0.1:0", "--http")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
}

// Package listen opens the TCP listeners of digest's servers (serve's
// web endpoints, the preview) with one explanation of the usual failures,
// naming the flag that picks another address.
package listen

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// ErrAddrInUse reports a listen address another process already holds.
var ErrAddrInUse = errors.New("address already in use")

// TCP listens on addr; a failure says what went wrong and which flag
// (such as "--http") picks another address.
func TCP(addr, flag string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		return ln, nil
	}
	_, port, _ := net.SplitHostPort(addr)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return nil, inUse(fmt.Sprintf("listen on %s: port %s is already in use: another process (another digest?) holds it; stop it or pick another with %s",
			addr, port, flag))
	case errors.Is(err, syscall.EACCES):
		return nil, fmt.Errorf("listen on %s: port %s needs privileges: pick a port above 1023 with %s", addr, port, flag)
	default:
		return nil, fmt.Errorf("listen on %s: %v: give %s as HOST:PORT like 127.0.0.1:8080", addr, err, flag)
	}
}

// inUse is the taken-port error: its text reads as one sentence and it
// still matches ErrAddrInUse with errors.Is.
type inUse string

func (e inUse) Error() string        { return string(e) }
func (e inUse) Is(target error) bool { return target == ErrAddrInUse }

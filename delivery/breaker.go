package delivery

import (
	"fmt"
	"strings"
)

// breaker watches the last attempts of a run. When nearly all of them
// failed in a way that says the relay, the sender or the connection is
// broken, the fault is not with the recipients but with the relay (down,
// refusing the sender, rejecting the credentials), and the run stops
// instead of marking the whole list deferred or failed. Refusals of one
// recipient's address or mailbox (dead addresses, full mailboxes) say the
// relay works, and never count: a run through a list with many dead
// addresses goes on.
type breaker struct {
	size   int
	ratio  float64
	ring   []attempt
	next   int
	filled int
	last   string
}

// attempt is one slot of the breaker's window.
type attempt struct {
	v     verdict
	reply string
}

// verdict is what one attempt tells about the relay.
type verdict int

const (
	// healthy: accepted, or refused for the recipient's own sake.
	healthy verdict = iota
	// relayFault: the connection, the relay or the sender is broken:
	// network errors, 421, authentication replies, policy refusals
	// (5.7.x), refusals of MAIL FROM.
	relayFault
	// sameReply: any other failure (a 451 at the end of data, a content
	// refusal); it counts only while the same reply comes for everyone,
	// which a relay-wide fault gives and per-message trouble does not.
	sameReply
)

// verdict classifies a failed attempt for the breaker.
func (e *DeliveryError) verdict() verdict {
	class, subject, detail := enhancedCode(e.Reply)
	switch {
	case e.Code == 0 || e.Code == 421 || e.Code == 530 || e.Code == 535 || e.Code == 534 || e.Code == 538:
		return relayFault
	case e.Stage == stageMail || e.Stage == stageConnect:
		return relayFault
	case class == '5' && subject == '7', subject == '1' && (detail == "7" || detail == "8"):
		// Policy refusals; X.1.7 and X.1.8 are about the sender's address.
		return relayFault
	case subject == '1' || subject == '2':
		// X.1.x addresses, X.2.x mailboxes (RFC 3463): the recipient's own.
		return healthy
	}
	return sameReply
}

// enhancedCode reads the RFC 3463 status code that follows the reply
// code ("550 5.1.1 ..."): class, subject and detail; zero when absent.
func enhancedCode(reply string) (class, subject byte, detail string) {
	_, text, _ := strings.Cut(reply, " ")
	code, _, _ := strings.Cut(text, " ")
	parts := strings.Split(code, ".")
	if len(parts) != 3 || len(parts[0]) != 1 || len(parts[1]) == 0 || len(parts[1]) > 3 || len(parts[2]) == 0 || len(parts[2]) > 3 {
		return 0, 0, ""
	}
	if c := parts[0][0]; c != '2' && c != '4' && c != '5' {
		return 0, 0, ""
	}
	if len(parts[1]) != 1 {
		return parts[0][0], 0, parts[2]
	}
	return parts[0][0], parts[1][0], parts[2]
}

func newBreaker(size int, ratio float64) *breaker {
	return &breaker{size: size, ratio: ratio, ring: make([]attempt, size)}
}

func (b *breaker) record(v verdict, reply string) {
	if b.filled < b.size {
		b.filled++
	}
	b.ring[b.next] = attempt{v: v, reply: reply}
	if v != healthy {
		b.last = reply
	}
	b.next = (b.next + 1) % b.size
}

// fails counts the failures in the window that point at the relay: every
// relay fault, and the most frequent of the other replies.
func (b *breaker) fails() int {
	n := 0
	same := map[string]int{}
	most := 0
	for _, a := range b.ring[:b.filled] {
		switch a.v {
		case relayFault:
			n++
		case sameReply:
			same[a.reply]++
			most = max(most, same[a.reply])
		}
	}
	return n + most
}

// open reports whether the window is full and failures reach the ratio.
func (b *breaker) open() bool {
	return b.filled == b.size && float64(b.fails()) >= b.ratio*float64(b.size)
}

func (b *breaker) String() string {
	return fmt.Sprintf("%d of the last %d attempts failed, the last with %q", b.fails(), b.filled, b.last)
}

// needsAuth reports a reply saying that the relay takes no mail without a
// login: 530 (RFC 4954 6), or a 5.7.0 refusal of MAIL FROM that says so
// in other words.
func (e *DeliveryError) needsAuth() bool {
	if e.Code == 530 {
		return true
	}
	class, subject, detail := enhancedCode(e.Reply)
	return e.Stage == stageMail && class == '5' && subject == '7' && detail == "0" && strings.Contains(strings.ToLower(e.Reply), "auth")
}

// authRequired explains a 530 reply: the relay takes no mail before a
// login (or before STARTTLS). It stops the run like a refused session.
func (s *Sender) authRequired(de *DeliveryError) error {
	hint := "add user:password to the SMTP URL"
	if t, ok := s.Transport.(*SMTP); ok && t.cfg.Username != "" {
		hint = "check the SMTP URL's user, tls= and auth= settings"
	}
	return &connectError{refused: true, msg: fmt.Sprintf("%s: %s requires authentication before it takes mail (%s): %s; no recipient was marked failed, run send again once it is fixed",
		ErrConnect, s.Transport, de.Reply, hint)}
}

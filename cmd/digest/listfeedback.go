package main

import (
	"github.com/spf13/pflag"

	"github.com/newsroom/digest/subscribers"
)

// feedbackFlags are the list settings of what comes back after a send.
type feedbackFlags struct {
	bounceAddress, clickTracking string
	rankByClicks                 bool
}

var feedbackFlagNames = []string{"bounce-address", "click-tracking", "rank-by-clicks"}

func (ff *feedbackFlags) register(f *pflag.FlagSet) {
	f.StringVar(&ff.bounceAddress, "bounce-address", "", `where bounces go, like bounce@bounces.example.com ("" uses bounce_address)`)
	f.StringVar(&ff.clickTracking, "click-tracking", "", "aggregate (count clicks per story, no reader) or off (default off)")
	f.BoolVar(&ff.rankByClicks, "rank-by-clicks", false, "add a capped click-rate term to story scores")
}

func (ff *feedbackFlags) apply(f *pflag.FlagSet, l *subscribers.List) {
	if f.Changed("bounce-address") {
		l.BounceAddress = ff.bounceAddress
	}
	if f.Changed("click-tracking") {
		l.ClickTracking = ff.clickTracking
	}
	if f.Changed("rank-by-clicks") {
		l.RankByClicks = ff.rankByClicks
	}
}

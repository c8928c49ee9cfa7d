package main

import (
	"context"

	"github.com/newsroom/digest/digest"
	"github.com/newsroom/digest/subscribers"
)

// variants prepares an edition's variants by reader preferences for the
// delivery engine, the same for digest send and digest serve.
func (a *App) variants(ctx context.Context, ed digest.Edition, list subscribers.List) (*digest.Variants, error) {
	eds, err := a.editions()
	if err != nil {
		return nil, err
	}
	return eds.PrepareVariants(ctx, a.composer(), ed, list)
}

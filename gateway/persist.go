package gateway

import (
	"time"

	"go.uber.org/zap"
)

// persistLoop saves the cache every interval until stop is closed. It is
// started by Serve when the config names a persist path.
func (g *Gateway) persistLoop(every time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			g.saveCache("periodic")
		}
	}
}

// saveCache writes the cache to its persist path, logging the outcome.
func (g *Gateway) saveCache(why string) {
	start := time.Now()
	if err := g.cache.Save(); err != nil {
		g.log.Error("cache save", zap.String("why", why), zap.Error(err))
		return
	}
	g.log.Info("cache saved", zap.String("why", why), zap.Duration("took", time.Since(start)))
}

package gateway

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// watchDebounce is how long the watcher waits for a burst of file events
// (an editor's write-rename-chmod, a ConfigMap's symlink swap) to settle.
const watchDebounce = 250 * time.Millisecond

// WatchConfig reloads the config when anything in its directory changes,
// debounced. It watches the directory, not the file, so that editors that
// replace the file by renaming and Kubernetes ConfigMap symlink swaps are
// seen; a change that leaves the file's content as it is does nothing. It
// stops at Shutdown.
func (g *Gateway) WatchConfig() error {
	dir := filepath.Dir(g.state.Load().cfg.Path)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch config: %w", err)
	}
	if err := w.Add(dir); err != nil {
		w.Close()
		return fmt.Errorf("watch config dir %s: %w", dir, err)
	}
	go g.watchLoop(w)
	return nil
}

func (g *Gateway) watchLoop(w *fsnotify.Watcher) {
	defer w.Close()
	// One look right away: a change made between loading the config and
	// watching its directory has no event of its own. An unchanged file
	// does nothing.
	settle := time.NewTimer(0)
	for {
		select {
		case <-g.stop:
			return
		case <-w.Events:
			settle.Reset(watchDebounce)
		case err := <-w.Errors:
			g.log.Warn("config watcher", zap.Error(err))
		case <-settle.C:
			g.Reload(reasonWatch) //nolint:errcheck // logged and shown in /status
		}
	}
}

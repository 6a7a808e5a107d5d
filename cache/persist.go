package cache

// Persistence. The directory PersistPath holds:
//
//	snap-<seq>/           a snapshot: fastcache's files, and
//	snap-<seq>/sums       written last, synced: each file's size and xxhash;
//	                      a snapshot without it is incomplete and removed
//	journal               each key deleted since the newest complete snapshot
//	                      began, length-prefixed, written before Del returns
//	set-aside-<unixnano>/ a snapshot that could not be read, kept for a person
//
// At any moment one complete snapshot exists, or none: a new one is complete
// before the old one is removed (TestSaveKilledAtEveryStep). A start loads
// the newest complete snapshot whose sums check, then deletes every key in
// the journal, so a deletion is never undone by a restart
// (TestRestartKeepsDeletions).

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/fastcache"
	"github.com/cespare/xxhash/v2"
)

const (
	snapPrefix  = "snap-"
	sumsFile    = "sums"
	journalFile = "journal"
)

// journal appends deleted keys to PersistPath/journal.
type journal struct {
	mu   sync.Mutex // guards f and buf
	f    *os.File
	buf  []byte
	path string
}

// add records key as deleted. The write reaches the kernel before add
// returns: a kill of the process cannot lose it (a power loss can).
func (j *journal) add(key []byte) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.buf = binary.AppendUvarint(j.buf[:0], uint64(len(key)))
	j.buf = append(j.buf, key...)
	_, err := j.f.Write(j.buf)
	return err
}

// size returns the journal's length now.
func (j *journal) size() (int64, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	fi, err := j.f.Stat()
	if err != nil {
		return 0, err
	}
	return fi.Size(), nil
}

// dropBefore removes the journal's first n bytes (covered by a complete
// snapshot), keeping what was appended since, by a synced copy renamed
// over it.
func (j *journal) dropBefore(n int64) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	rest, err := os.ReadFile(j.path)
	if err != nil {
		return err
	}
	tmp := j.path + ".tmp"
	if err := writeSynced(tmp, rest[min(n, int64(len(rest))):]); err != nil {
		return err
	}
	if err := os.Rename(tmp, j.path); err != nil {
		return err
	}
	f, err := os.OpenFile(j.path, os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	j.f.Close()
	j.f = f
	return syncDir(filepath.Dir(j.path))
}

// readJournal returns the keys in the journal at path; a record cut short
// by a crash ends it.
func readJournal(path string) ([][]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys [][]byte
	for len(b) > 0 {
		n, w := binary.Uvarint(b)
		if w <= 0 || uint64(len(b)-w) < n {
			break
		}
		keys = append(keys, b[w:w+int(n)])
		b = b[w+int(n):]
	}
	return keys, nil
}

// open loads the newest complete snapshot under dir into a cache of
// maxBytes, then applies the journal. A snapshot that cannot be read (its
// sums do not match, a file is missing, it was written for another
// maxBytes) is set aside and the cache starts empty; problem says why.
func open(dir string, maxBytes int) (fc *fastcache.Cache, seq int, replayed int, problem error, err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, 0, 0, nil, err
	}
	seq, snap := cleanDir(dir)
	if snap != "" {
		loaded, lerr := loadSnapshot(snap, maxBytes)
		if lerr == nil {
			fc = loaded
		} else {
			problem = fmt.Errorf("snapshot %s: %w; set aside as %s", snap, lerr, setAside(dir, snap))
		}
	}
	if fc == nil {
		fc = fastcache.New(maxBytes)
	}
	keys, err := readJournal(filepath.Join(dir, journalFile))
	if err != nil {
		return nil, 0, 0, nil, err
	}
	for _, k := range keys {
		fc.Del(k)
	}
	return fc, seq, len(keys), problem, nil
}

// setAside moves the unreadable snapshot snap out of the way, into a
// set-aside-<unixnano> directory under dir, and returns that directory. A
// snapshot in the earlier layout (snap == dir) has its files moved.
func setAside(dir, snap string) string {
	aside := filepath.Join(dir, "set-aside-"+strconv.FormatInt(time.Now().UnixNano(), 10))
	if snap != dir {
		if err := os.Rename(snap, aside); err != nil {
			os.RemoveAll(snap) //nolint:errcheck // nothing else to do with it
		}
		return aside
	}
	os.Mkdir(aside, 0o755) //nolint:errcheck // the renames below say if it failed
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if name := e.Name(); isLegacyFile(name) {
			if err := os.Rename(filepath.Join(dir, name), filepath.Join(aside, name)); err != nil {
				os.Remove(filepath.Join(dir, name)) //nolint:errcheck
			}
		}
	}
	return aside
}

// isLegacyFile reports whether name is one of fastcache's files, which the
// earlier layout kept at the top of the directory.
func isLegacyFile(name string) bool {
	return name == "metadata.bin" || strings.HasPrefix(name, "data.") && strings.HasSuffix(name, ".bin")
}

// cleanDir removes what a save killed midway leaves (fastcache's
// temporaries, snapshots without sums, older snapshots) and returns the
// highest snapshot number seen and the newest complete snapshot ("" for
// none). A directory in the layout of earlier versions (fastcache's files
// at the top) counts as snapshot 0 without sums.
func cleanDir(dir string) (seq int, snap string) {
	ents, _ := os.ReadDir(dir)
	var complete []int
	for _, e := range ents {
		name := e.Name()
		switch {
		case strings.HasPrefix(name, "fastcache.tmp.") || strings.HasSuffix(name, ".tmp"):
			os.RemoveAll(filepath.Join(dir, name)) //nolint:errcheck
		case strings.HasPrefix(name, snapPrefix):
			n, err := strconv.Atoi(strings.TrimPrefix(name, snapPrefix))
			if err != nil {
				continue
			}
			seq = max(seq, n)
			if _, err := os.Stat(filepath.Join(dir, name, sumsFile)); err == nil {
				complete = append(complete, n)
			} else {
				os.RemoveAll(filepath.Join(dir, name)) //nolint:errcheck
			}
		}
	}
	if len(complete) == 0 {
		if _, err := os.Stat(filepath.Join(dir, "metadata.bin")); err == nil {
			return seq, dir // the earlier layout
		}
		return seq, ""
	}
	slices.Sort(complete)
	for _, n := range complete[:len(complete)-1] {
		os.RemoveAll(snapDir(dir, n)) //nolint:errcheck
	}
	return seq, snapDir(dir, complete[len(complete)-1])
}

func snapDir(dir string, n int) string { return filepath.Join(dir, snapPrefix+strconv.Itoa(n)) }

// loadSnapshot checks snap's sums (when it has them) and loads it.
func loadSnapshot(snap string, maxBytes int) (*fastcache.Cache, error) {
	if _, err := os.Stat(filepath.Join(snap, sumsFile)); err == nil {
		if err := checkSums(snap); err != nil {
			return nil, err
		}
	}
	fc, err := fastcache.LoadFromFileMaxBytes(snap, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("written for another cache.max_bytes (this config: %d) or damaged: %w", maxBytes, err)
	}
	return fc, nil
}

// writeSums syncs each file of snap and writes their sizes and hashes to
// snap/sums, synced: the mark of a complete snapshot.
func writeSums(snap string) error {
	ents, err := os.ReadDir(snap)
	if err != nil {
		return err
	}
	var b strings.Builder
	for _, e := range ents {
		size, sum, err := hashFile(filepath.Join(snap, e.Name()), true)
		if err != nil {
			return err
		}
		fmt.Fprintf(&b, "%s %d %016x\n", e.Name(), size, sum)
	}
	tmp := filepath.Join(snap, sumsFile+".tmp")
	if err := writeSynced(tmp, []byte(b.String())); err != nil {
		return err
	}
	if err := os.Rename(tmp, filepath.Join(snap, sumsFile)); err != nil {
		return err
	}
	if err := syncDir(snap); err != nil {
		return err
	}
	return syncDir(filepath.Dir(snap))
}

// checkSums reports the first file of snap whose size or hash differs
// from its sums, or that is missing.
func checkSums(snap string) error {
	f, err := os.Open(filepath.Join(snap, sumsFile))
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		var name string
		var size int64
		var sum uint64
		if _, err := fmt.Sscanf(sc.Text(), "%s %d %x", &name, &size, &sum); err != nil {
			return fmt.Errorf("sums line %q: %w", sc.Text(), err)
		}
		gotSize, gotSum, err := hashFile(filepath.Join(snap, name), false)
		if err != nil {
			return err
		}
		if gotSize != size || gotSum != sum {
			return fmt.Errorf("%s: %d bytes, hash %016x; the snapshot wrote %d bytes, hash %016x", name, gotSize, gotSum, size, sum)
		}
		n++
	}
	if n == 0 {
		return errors.New("empty sums")
	}
	return sc.Err()
}

// hashFile returns path's size and xxhash, syncing it first if sync.
func hashFile(path string, sync bool) (int64, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	if sync {
		if err := f.Sync(); err != nil {
			return 0, 0, err
		}
	}
	h := xxhash.New()
	n, err := io.Copy(h, f)
	return n, h.Sum64(), err
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// save writes snapshot seq of fc under dir, complete with its sums, then
// drops what it covers from the journal and removes older snapshots (and
// the earlier layout's files).
func (c *Cache) save(seq int) error {
	from, err := c.journal.size()
	if err != nil {
		return err
	}
	snap := snapDir(c.persistPath, seq)
	if err := c.fc.SaveToFileConcurrent(snap, 2); err != nil {
		return err
	}
	if err := writeSums(snap); err != nil {
		return err
	}
	if err := c.journal.dropBefore(from); err != nil {
		return err
	}
	ents, _ := os.ReadDir(c.persistPath)
	for _, e := range ents {
		name := e.Name()
		old := strings.HasPrefix(name, snapPrefix) && name != filepath.Base(snap)
		if old || isLegacyFile(name) {
			os.RemoveAll(filepath.Join(c.persistPath, name)) //nolint:errcheck
		}
	}
	return nil
}

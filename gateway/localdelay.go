package gateway

import (
	"encoding/binary"
	"net"
	"sync/atomic"
	"time"
)

// localDelay estimates how late this process reads a network answer that
// has arrived: every localDelayTick a goroutine writes the time to a UDP
// socket on loopback, and another, blocked reading it as an upstream
// connection's reader is, records how long the datagram waited: for the
// network poller to notice it and for a CPU to run the reader. The
// limiter takes it off round trips and adds the slots it holds to the
// limit (limiter.Config.LocalDelay).
//
// Why a socket and not a timer: measured, a gateway answering 30,000
// retried attempts/s on cores it shares took 250-460 ms to answer its own
// /healthz and read upstream answers ~300 ms late, while a sleeping
// goroutine's wake-up lateness read 2-11 ms: timers fire from the
// scheduler's own checks, network readiness waits for a poll. The adaptive
// limit then took the gateway's saturation for backend queueing and fell
// to its floor in front of an idle backend.
type localDelay struct {
	ns atomic.Int64 // smoothed delay
}

const localDelayTick = 5 * time.Millisecond

// run probes until stop is closed. Without a loopback UDP socket it falls
// back to timer lateness, which sees CPU starvation but not poll delay.
func (d *localDelay) run(stop <-chan struct{}) {
	rx, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		d.runTimer(stop)
		return
	}
	tx, err := net.DialUDP("udp", nil, rx.LocalAddr().(*net.UDPAddr))
	if err != nil {
		rx.Close()
		d.runTimer(stop)
		return
	}
	epoch := time.Now()
	go d.receive(rx, epoch)
	defer rx.Close() // ends receive
	defer tx.Close()
	tick := time.NewTicker(localDelayTick)
	defer tick.Stop()
	var buf [8]byte
	for {
		select {
		case <-stop:
			return
		case <-tick.C:
			binary.LittleEndian.PutUint64(buf[:], uint64(time.Since(epoch)))
			tx.Write(buf[:]) // a lost datagram is a lost sample
		}
	}
}

// receive reads the probes until rx is closed.
func (d *localDelay) receive(rx *net.UDPConn, epoch time.Time) {
	var buf [8]byte
	var smooth float64
	for {
		n, err := rx.Read(buf[:])
		if err != nil {
			return
		}
		if n == len(buf) {
			sent := time.Duration(binary.LittleEndian.Uint64(buf[:]))
			d.observe(&smooth, float64(time.Since(epoch)-sent))
		}
	}
}

// runTimer is the fallback probe: how late a sleeping goroutine wakes.
func (d *localDelay) runTimer(stop <-chan struct{}) {
	var smooth float64
	for {
		select {
		case <-stop:
			return
		default:
		}
		before := time.Now()
		time.Sleep(localDelayTick)
		d.observe(&smooth, float64(time.Since(before)-localDelayTick))
	}
}

// observe folds one sample into smooth and publishes it: rising fast, so
// that a starved moment shows at once, and falling slowly.
func (d *localDelay) observe(smooth *float64, late float64) {
	if late > *smooth {
		*smooth += 0.5 * (late - *smooth)
	} else {
		*smooth += 0.1 * (late - *smooth)
	}
	d.ns.Store(int64(max(*smooth, 0)))
}

// current returns the smoothed delay.
func (d *localDelay) current() time.Duration { return time.Duration(d.ns.Load()) }

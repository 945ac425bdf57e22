import threading, time
from collections import Counter
from tests import test_soak as s
from tests.mesh_helpers import recorded, recorder_box, up
from ttal.commands import agents

def test_noack(make_box, tmp_path):
    out = tmp_path / "rec"
    box = recorder_box(make_box, out, s.MANAGERS, acks=False)
    up(box)
    sent, stop, kills, errors = [], threading.Event(), Counter(), []
    killer = s._thread(errors, s.restart_at_random, box, stop, kills)
    senders = [s._thread(errors, s.send_many, box, x, 200, i, sent) for i, x in enumerate(s.SENDERS)]
    killer.start(); [t.start() for t in senders]; [t.join() for t in senders]; stop.set(); killer.join()
    app = s.app_as(box, "human"); agents.up(app, [])
    for _ in range(50):
        agents.deliver_all(app)
        if s._count(box, "delivered_ts IS NULL") == 0: break
        time.sleep(0.2)
    time.sleep(2)
    seen = Counter()
    for n in s.MANAGERS:
        for line in recorded(out / f"{n}.hex"):
            if line.startswith(b"[ttal #"):
                seen[int(line[7:].split(b" ")[0])] += 1
    ids = {m for _, _, m in sent}
    print(f"\nNOACK: {len(ids)} sent, {len(ids - set(seen))} never read, {sum(1 for v in seen.values() if v > 1)} twice, kills {dict(kills)}")

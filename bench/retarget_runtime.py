"""Points a script artifact at another build of its runtime (benchmarks only).

    python3 bench/retarget_runtime.py ARTIFACT RUNTIME

Rewrites the runtime digest in ARTIFACT's `retort-script` section to RUNTIME's SHA-256 and
copies RUNTIME into the artifact's `runtimes/` directory under the name Retort looks up.
"""
import sys, json, hashlib, os, shutil
art, rt = sys.argv[1], sys.argv[2]
def leb(n):
    out = bytearray()
    while True:
        b = n & 0x7f; n >>= 7
        if n: out.append(b | 0x80)
        else: out.append(b); return bytes(out)
def rleb(b, i):
    r = s = 0
    while True:
        x = b[i]; i += 1; r |= (x & 0x7f) << s; s += 7
        if not x & 0x80: return r, i
data = open(art, 'rb').read()
i = 8; secs = []
while i < len(data):
    sid = data[i]; i += 1
    size, i = rleb(data, i); end = i + size
    nl, j = rleb(data, i); name = data[j:j+nl].decode(); payload = data[j+nl:end]
    secs.append((name, payload)); i = end
rtb = open(rt, 'rb').read(); dig = hashlib.sha256(rtb).hexdigest()
out = bytearray(data[:8])
for name, payload in secs:
    if name == 'retort-script':
        s = json.loads(payload); s['runtime']['digest'] = dig; payload = json.dumps(s, separators=(',', ':')).encode()
    body = leb(len(name)) + name.encode() + payload
    out += b'\x00' + leb(len(body)) + body
open(art, 'wb').write(out)
d = os.path.join(os.path.dirname(art), 'runtimes'); os.makedirs(d, exist_ok=True)
lang = json.loads([p for n, p in secs if n == 'retort-script'][0])['runtime']['language']
shutil.copy(rt, os.path.join(d, f'{lang}-{dig}.wasm'))
print(dig)

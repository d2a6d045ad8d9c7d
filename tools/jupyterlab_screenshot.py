"""Drive headless Chromium over the DevTools protocol: the notebook open in JupyterLab, Run All, then a screenshot.

Used by tools/explorer_screenshot.sh (not by the tests): `python tools/jupyterlab_screenshot.py OUT.png`, with
Chromium already started with `--remote-debugging-port=9222` on the notebook's JupyterLab URL."""
import json, time, base64, sys, urllib.request
from tornado.ioloop import IOLoop
from tornado.websocket import websocket_connect

OUT = sys.argv[1]
async def main():
    for _ in range(60):
        try: pages = json.loads(urllib.request.urlopen('http://127.0.0.1:9222/json/list').read()); break
        except Exception: time.sleep(1)
    page = [p for p in pages if p['type'] == 'page'][0]
    ws = await websocket_connect(page['webSocketDebuggerUrl'], max_message_size=200 * 2**20)
    n = [0]
    async def call(method, **params):
        n[0] += 1; i = n[0]
        await ws.write_message(json.dumps({'id': i, 'method': method, 'params': params}))
        while True:
            m = json.loads(await ws.read_message())
            if m.get('id') == i: return m.get('result', m)
    async def ev(expr):
        r = await call('Runtime.evaluate', expression=expr, awaitPromise=True, returnByValue=True)
        return r.get('result', {}).get('value')
    status = "(() => { const w = window.jupyterapp && window.jupyterapp.shell.currentWidget; " \
             "return w && w.sessionContext && w.sessionContext.session && w.sessionContext.session.kernel ? w.sessionContext.session.kernel.status : 'none'; })()"
    for t in range(120):
        s = await ev(status); print(t, s, flush=True)
        if s == 'idle': break
        time.sleep(1)
    await ev("window.jupyterapp.shell.collapseLeft()")
    await ev("window.jupyterapp.commands.execute('notebook:run-all-cells')")
    time.sleep(3)
    for t in range(180):
        s = await ev(status)
        busy = await ev("document.querySelectorAll('.jp-InputPrompt').length ? Array.from(document.querySelectorAll('.jp-InputPrompt')).some(e => e.textContent.includes('*')) : true")
        print('run', t, s, busy, flush=True)
        if s == 'idle' and not busy: break
        time.sleep(1)
    time.sleep(3)
    r = await call('Page.captureScreenshot', format='png')
    open(OUT, 'wb').write(base64.b64decode(r['data']))
    print('saved', OUT)
IOLoop.current().run_sync(main, timeout=400)

"""The web demo: a real uvicorn server on 127.0.0.1 driven by a real headless Chromium.

The model is the tiny grounding model of ``tests/conftest.py`` that memorised 8
EOV-Synth records, so the page's answer can be checked against the inferencer's.
"""
import base64
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import httpx
import numpy as np
import pytest
from PIL import Image

from eov.apis import EOVInferencer
from eov.apis.web import create_app
from eov.apis.web.server import STATIC_DIR, describe_object
from tests.conftest import ROOT, TINY_CONFIG
from tests.helpers import load_tool

CHROMIUM = '/usr/bin/chromium'
CHROMEDRIVER = '/usr/bin/chromedriver'
WAIT_S = 60
EXAMPLE = 'memorised_scene.png'


def _question(rec):
    return rec['conversations'][0]['value']


def _typed(question):
    """What a user types: the question without eov's ``<image>`` placeholder (the
    inferencer puts it back after the question, where eov's data has it)."""
    return question.replace('<image>', '').strip()


# ----------------------------------------------------------------------------- fixtures
@pytest.fixture(scope='module')
def inferencer(grounding_checkpoint):
    path, _ = grounding_checkpoint
    return EOVInferencer(TINY_CONFIG, path, batch_size=4)


@pytest.fixture(scope='module')
def memorised(inferencer, grounding_checkpoint):
    """Records whose memorised answer comes back with a box: ``[(record, prediction)]``."""
    _, records = grounding_checkpoint
    preds = inferencer.predict_many([dict(images=r['images'][0]['path'], prompt=_question(r),
                                          modality='optical', task='grounding')
                                     for r in records])
    good = [(r, p) for r, p in zip(records, preds) if p.objects]
    assert len(good) >= 2, [p.text for p in preds]
    return good


@pytest.fixture(scope='module')
def examples_dir(tmp_path_factory, memorised):
    """A folder with one bundled example (a memorised record's PNG) and a non-image."""
    out = tmp_path_factory.mktemp('web_examples')
    rec, _ = memorised[-1]
    shutil.copy(rec['images'][0]['path'], out / EXAMPLE)
    (out / 'notes.txt').write_text('not an image')
    return str(out)


def _free_socket():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(('127.0.0.1', 0))
    return sock


@pytest.fixture(scope='module')
def server(inferencer, examples_dir):
    """A live uvicorn server (background thread) on a free loopback port: its base URL."""
    import uvicorn
    sock = _free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(inferencer, examples_dir=examples_dir),
                            log_level='warning', lifespan='off')
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    url = f'http://127.0.0.1:{port}'
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            if httpx.get(url + '/api/health', timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError('the web demo server did not start')
        time.sleep(0.1)
    yield url
    srv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture(scope='module')
def browser():
    """Headless Chromium through the system chromedriver (selenium never downloads one)."""
    missing = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.path.exists(p)]
    if missing:
        pytest.skip(f'{" and ".join(missing)} not installed (make setup installs Debian\'s '
                    'chromium and chromium-driver when run as root with apt available)')
    os.environ['SE_OFFLINE'] = 'true'     # selenium manager: no driver download
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ('--headless=new', '--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu',
                '--window-size=1280,1000', '--disable-extensions'):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(WAIT_S)
    yield driver
    driver.quit()


# ----------------------------------------------------------------------------- page helpers
def _wait(driver, condition, what):
    from selenium.webdriver.support.ui import WebDriverWait
    return WebDriverWait(driver, WAIT_S).until(condition, message=f'timed out waiting for {what}')


def _text(driver, element_id):
    return driver.find_element('id', element_id).get_attribute('textContent')


def _open(driver, url):
    driver.get(url + '/')
    _wait(driver, lambda d: _text(d, 'status') in ('ready', 'error'), 'the page to load')
    assert _text(driver, 'status') == 'ready', _text(driver, 'error')


def _ask(driver, prompt, task=None, upload=None, example=None):
    """Fill the form, click ask, wait for the answer; returns the final status."""
    from selenium.webdriver.support.ui import Select
    if upload is not None:
        driver.find_element('id', 'file').send_keys(upload)
    if example is not None:
        Select(driver.find_element('id', 'example')).select_by_value(example)
    if task is not None:
        Select(driver.find_element('id', 'task')).select_by_value(task)
    box = driver.find_element('id', 'prompt')
    box.clear()
    box.send_keys(prompt)
    driver.find_element('id', 'ask').click()
    _wait(driver, lambda d: _text(d, 'status') in ('done', 'error'), 'the answer')
    return _text(driver, 'status')


def _decode_png(data_url):
    assert data_url.startswith('data:image/png;base64,'), data_url[:60]
    raw = base64.b64decode(data_url.split(',', 1)[1])
    return np.asarray(Image.open(io.BytesIO(raw)).convert('RGB'))


def _decode_geojson(href):
    head, body = href.split(',', 1)
    assert head.startswith('data:application/geo+json'), head
    return json.loads(base64.b64decode(body) if head.endswith(';base64')
                      else urllib.parse.unquote(body))


def _outline_changed(overlay, plain_path, bbox):
    """``(fraction of the box outline with a changed pixel within 2 px, fraction of
    changed pixels away from it)``: the overlay against the same quick-look (the
    stretched image) with nothing drawn."""
    from eov.apis.web.server import overlay_png
    h, w = overlay.shape[:2]
    with Image.open(plain_path) as img:
        size = img.size
    url, scale = overlay_png(plain_path, [], size)
    plain = _decode_png(url).astype(int)
    assert plain.shape == overlay.shape
    changed = np.abs(overlay.astype(int) - plain).sum(-1) > 30
    x1, y1, x2, y2 = (int(round(v * scale)) for v in bbox)
    x1, x2 = np.clip([x1, x2], 0, w - 1)
    y1, y2 = np.clip([y1, y2], 0, h - 1)
    near = np.zeros_like(changed)        # within 2 px of the outline
    for y in (y1, y2):
        near[max(0, y - 2):y + 3, x1:x2 + 1] = True
    for x in (x1, x2):
        near[y1:y2 + 1, max(0, x - 2):x + 3] = True
    # every sample of the outline has a changed pixel within 2 px
    samples = [(y, x) for y in (y1, y2) for x in range(x1, x2 + 1)] + \
              [(y, x) for x in (x1, x2) for y in range(y1, y2 + 1)]
    hits = sum(changed[max(0, y - 2):y + 3, max(0, x - 2):x + 3].any() for y, x in samples)
    return hits / len(samples), changed[~near].mean()


# ----------------------------------------------------------------------------- the page
def test_the_page_has_no_external_assets():
    with open(os.path.join(STATIC_DIR, 'index.html'), encoding='utf-8') as f:
        page = f.read()
    assert not re.search(r'https?:', page), re.findall(r'.{30}https?:.{30}', page)
    assert not re.search(r'<link\b|@import|url\(|<iframe\b', page, re.I)
    # no tag loads anything: no src/href attribute at all (the page sets them from data)
    assert not re.search(r'<[a-z][^>]*\s(src|href|srcset|action)\s*=', page, re.I)
    for element_id in ('file', 'example', 'modality', 'task', 'prompt', 'ask', 'answer',
                       'overlay', 'geojson', 'error', 'status'):
        assert f'id="{element_id}"' in page, element_id
    assert 'download="answer.geojson"' in page


@pytest.mark.slow
def test_upload_ask_and_see_the_answer_drawn(server, browser, inferencer, memorised):
    rec, _ = memorised[0]
    image = rec['images'][0]['path']
    expected = inferencer.predict(image, _question(rec), modality='optical', task='grounding')
    assert expected.objects
    _open(browser, server)
    from selenium.webdriver.support.ui import Select
    modalities = [o.get_attribute('value') for o in
                  Select(browser.find_element('id', 'modality')).options]
    assert modalities == inferencer.modalities
    tasks = [(o.get_attribute('value'), o.text) for o in
             Select(browser.find_element('id', 'task')).options]
    assert tasks == [('', '(any)')] + [(t, t) for t in inferencer.tasks]

    status = _ask(browser, _typed(_question(rec)), task='grounding', upload=image)
    assert status == 'done', _text(browser, 'error')
    assert _text(browser, 'error') == ''
    assert _text(browser, 'answer') == expected.text
    assert 'pixel' in _text(browser, 'meta') and 'none' in _text(browser, 'meta')

    overlay = _decode_png(browser.find_element('id', 'overlay').get_attribute('src'))
    assert overlay.shape[0] >= 64 and overlay.shape[1] >= 64
    outline, elsewhere = _outline_changed(overlay, image, expected.objects[0]['bbox'])
    assert outline > 0.9, outline           # the box is drawn where the answer says
    assert elsewhere < 0.2, elsewhere        # and the rest is the image (label text aside)
    assert browser.find_element('id', 'overlay').is_displayed()
    cells = browser.find_elements('css selector', '#objects tbody tr:first-child td')
    assert cells[3].text == describe_object(expected.objects[0])   # in words, not a list

    link = browser.find_element('id', 'geojson')
    assert link.get_attribute('download') == 'answer.geojson'
    fc = _decode_geojson(link.get_attribute('href'))
    assert fc['type'] == 'FeatureCollection' and len(fc['features']) >= 1
    assert fc['eov:coordinates'] == 'pixel'
    x1, y1, x2, y2 = expected.objects[0]['bbox']
    ring = np.asarray(fc['features'][0]['geometry']['coordinates'][0])
    assert np.allclose([ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(),
                        ring[:, 1].max()], [x1, y1, x2, y2])


@pytest.mark.slow
def test_a_bundled_example_can_be_asked_about(server, browser, inferencer, memorised,
                                              examples_dir):
    rec, _ = memorised[-1]
    path = os.path.join(examples_dir, EXAMPLE)
    expected = inferencer.predict(path, _question(rec), modality='optical')   # task: (any)
    _open(browser, server)
    from selenium.webdriver.support.ui import Select
    names = [o.get_attribute('value') for o in
             Select(browser.find_element('id', 'example')).options]
    assert names == ['', EXAMPLE]           # notes.txt is not offered
    status = _ask(browser, _typed(_question(rec)), task='', example=EXAMPLE)
    assert status == 'done', _text(browser, 'error')
    assert _text(browser, 'answer') == expected.text
    overlay = _decode_png(browser.find_element('id', 'overlay').get_attribute('src'))
    if expected.objects:
        outline, _ = _outline_changed(overlay, path, expected.objects[0]['bbox'])
        assert outline > 0.9, outline
    fc = _decode_geojson(browser.find_element('id', 'geojson').get_attribute('href'))
    assert len(fc['features']) == len(expected.objects)
    assert fc['features'][0]['properties']['source'] == EXAMPLE


@pytest.mark.slow
def test_a_malformed_upload_shows_an_error_and_the_server_keeps_serving(
        server, browser, memorised, tmp_path):
    bad = tmp_path / 'broken_scene.tif'
    bad.write_text('this is a text file, not a GeoTIFF\n')
    _open(browser, server)
    status = _ask(browser, 'Where is the ship?', task='grounding', upload=str(bad))
    assert status == 'error'
    message = _text(browser, 'error')
    assert 'broken_scene.tif' in message and 'cannot read' in message, message
    assert 'eov-web-' not in message                     # not the temporary copy's path
    assert browser.find_element('id', 'error').is_displayed()
    assert browser.find_element('id', 'overlay').get_attribute('src') in (None, '')
    assert httpx.get(server + '/api/health', timeout=10).json() == {'status': 'ok'}

    # an empty question is refused on the page, without a request
    browser.find_element('id', 'prompt').clear()
    browser.find_element('id', 'ask').click()
    _wait(browser, lambda d: 'prompt is empty' in _text(d, 'error'), 'the empty-prompt error')

    rec, pred = memorised[0]
    browser.execute_script("document.getElementById('file').value = '';")
    status = _ask(browser, _typed(_question(rec)), upload=rec['images'][0]['path'])
    assert status == 'done', _text(browser, 'error')
    assert _text(browser, 'error') == ''
    assert _text(browser, 'answer') == pred.text


# ----------------------------------------------------------------------------- the JSON API
def test_json_api_on_the_live_server(server, inferencer, memorised, examples_dir, tmp_path):
    rec, pred = memorised[0]
    image = rec['images'][0]['path']
    client = httpx.Client(base_url=server, timeout=WAIT_S)

    page = client.get('/')
    assert page.status_code == 200 and page.headers['content-type'].startswith('text/html')
    assert 'id="overlay"' in page.text and '{{title}}' not in page.text
    info = client.get('/api/info').json()
    assert info['modalities'] == inferencer.modalities and info['tasks'] == inferencer.tasks
    assert info['examples'] == [EXAMPLE]
    example = client.get(f'/api/examples/{EXAMPLE}')
    assert example.status_code == 200
    with open(os.path.join(examples_dir, EXAMPLE), 'rb') as f:
        assert example.content == f.read()
    assert client.get('/api/examples/notes.txt').status_code == 404

    def ask(files=None, **form):
        form = {k: v for k, v in dict(dict(prompt=_typed(_question(rec)), modality='optical',
                                           task='grounding'), **form).items() if v is not None}
        return client.post('/api/predict', data=form, files=files)

    with open(image, 'rb') as f:
        png = f.read()
    ok = ask(files={'file': ('scene.png', png, 'image/png')})
    assert ok.status_code == 200, ok.text
    body = ok.json()
    assert body['text'] == pred.text and body['objects'] == pred.to_dict()['objects']
    assert body['object_texts'] == [describe_object(o) for o in pred.objects]
    assert body['image_size'] == [64, 64] and body['crs'] is None
    assert body['georeferenced'] is False and 'pixel' in body['note']
    assert body['geojson']['type'] == 'FeatureCollection' and body['geojson']['features']
    assert body['overlay'].startswith('data:image/png;base64,')
    assert _decode_png(body['overlay']).shape[1] == round(64 * body['overlay_scale'])

    def refused(resp, *words, status=400):
        assert resp.status_code == status, resp.text
        message = resp.json()['error']
        assert all(w in message for w in words), message
        return message

    files = {'file': ('scene.png', png, 'image/png')}
    refused(ask(files=files, prompt=''), 'prompt is empty')
    refused(ask(files=files, prompt='   '), 'prompt is empty')
    refused(ask(files=files, modality='hyperspectral'), 'unknown modality', 'hyperspectral')
    refused(ask(files=files, task='weather'), 'unknown task', 'weather')
    refused(ask(), 'no image')
    refused(ask(files={'file': ('scene.exe', b'MZ', 'application/octet-stream')}),
            'unsupported file type', '.exe')
    refused(ask(files={'file': ('empty.png', b'', 'image/png')}), 'empty.png', 'empty')
    refused(ask(files={'file': ('text.tif', b'hello', 'image/tiff')}), 'text.tif')
    refused(ask(files={'file': ('text.png', b'hello', 'image/png')}), 'text.png')
    refused(ask(files=files, example=EXAMPLE), 'not both')
    refused(ask(example='../../etc/passwd'), 'unknown example', status=404)
    refused(client.post('/api/predict', json={'prompt': 'x'}), 'multipart/form-data')
    refused(client.post('/api/predict', content=b'--x\r\ngarbage',
                        headers={'content-type': 'multipart/form-data; boundary=zz'}),
            'malformed')
    refused(client.post('/api/predict', data={'prompt': 'x', 'file': 'not a file'}),
            'malformed', 'file')
    # after all that, it still answers
    again = ask(example=EXAMPLE, task=None)
    assert again.status_code == 200 and again.json()['source'] == EXAMPLE
    assert not [p for p in os.listdir(tempfile.gettempdir()) if p.startswith('eov-web-')]


def test_a_georeferenced_geotiff_answers_in_map_coordinates(inferencer, memorised, tmp_path):
    """A GeoTIFF: CRS and transform come back, GeoJSON in map (or lon/lat) coordinates."""
    import rasterio
    from fastapi.testclient import TestClient
    from rasterio.transform import from_origin
    rec, _ = memorised[0]
    rgb = np.asarray(Image.open(rec['images'][0]['path']).convert('RGB')).transpose(2, 0, 1)
    transform = from_origin(500000.0, 4600000.0, 10.0, 10.0)
    path = tmp_path / 'scene.tif'
    with rasterio.open(path, 'w', driver='GTiff', width=64, height=64, count=3, dtype='uint8',
                       crs='EPSG:32633', transform=transform) as dst:
        dst.write(rgb)
    direct = inferencer.predict(str(path), _question(rec), task='grounding')
    client = TestClient(create_app(inferencer))
    with open(path, 'rb') as f:
        data = f.read()
    resp = client.post('/api/predict', data=dict(prompt=_typed(_question(rec)),
                                                 task='grounding'),
                       files={'file': ('scene.tif', data, 'image/tiff')})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body['text'] == direct.text and body['georeferenced'] is True
    assert '32633' in body['crs'] and body['note'] is None
    assert body['geojson'] == json.loads(json.dumps(direct.to_geojson(
        properties={'source': 'scene.tif'})))
    assert body['geojson']['eov:coordinates'] == 'map'
    for feature, obj in zip(body['geojson']['features'], direct.objects):
        ring = np.asarray(feature['geometry']['coordinates'][0])
        x1, y1, x2, y2 = obj['bbox']
        assert np.isclose(ring[:, 0].min(), 500000 + 10 * x1)
        assert np.isclose(ring[:, 1].max(), 4600000 - 10 * y1)
    overlay = _decode_png(body['overlay'])
    assert overlay.shape[:2] == (512, 512)
    if direct.objects:
        outline, _ = _outline_changed(overlay, rec['images'][0]['path'],
                                      direct.objects[0]['bbox'])
        assert outline > 0.9
    lonlat = client.post('/api/predict', data=dict(prompt=_typed(_question(rec)),
                                                   task='grounding', wgs84='true'),
                         files={'file': ('scene.tif', data, 'image/tiff')}).json()
    for feature in lonlat['geojson']['features']:
        lon, lat = np.asarray(feature['geometry']['coordinates'][0]).mean(0)
        assert 14 < lon < 16 and 41 < lat < 42       # UTM 33N, 500 km E, 4600 km N


def test_a_per_band_upload_is_drawn_in_colour_like_the_one_file_upload(inferencer, memorised,
                                                                      tmp_path):
    """Three single-band files (R, G, B) are one image: the quick-look uses all three (it drew
    the first file alone, grey), so it equals the quick-look of the same bands in one file."""
    import rasterio
    from fastapi.testclient import TestClient
    from rasterio.transform import from_origin
    rec, _ = memorised[0]
    rgb = np.asarray(Image.open(rec['images'][0]['path']).convert('RGB')).transpose(2, 0, 1)

    def tif(name, data):
        path = tmp_path / name
        with rasterio.open(path, 'w', driver='GTiff', width=data.shape[2],
                           height=data.shape[1], count=data.shape[0], dtype='uint8',
                           crs='EPSG:32633', transform=from_origin(5e5, 4.6e6, 10, 10)) as dst:
            dst.write(data)
        return path.read_bytes()

    client = TestClient(create_app(inferencer))
    form = dict(prompt=_typed(_question(rec)), task='grounding')
    one = client.post('/api/predict', data=form,
                      files={'file': ('scene.tif', tif('scene.tif', rgb), 'image/tiff')})
    per_band = client.post('/api/predict', data=dict(form, bands='R,G,B'), files=[
        ('file', (f'{b}.tif', tif(f'{b}.tif', rgb[k:k + 1]), 'image/tiff'))
        for k, b in enumerate('RGB')])
    assert one.status_code == 200 and per_band.status_code == 200, per_band.text
    a, b = _decode_png(one.json()['overlay']), _decode_png(per_band.json()['overlay'])
    assert per_band.json()['text'] == one.json()['text']
    assert a.shape == b.shape and (a == b).all()
    assert not (b[..., 0] == b[..., 2]).all()                    # colour, not grey


@pytest.mark.filterwarnings('ignore::rasterio.errors.NotGeoreferencedWarning')
def test_a_16_bit_single_band_quicklook_is_grey(tmp_path):
    import rasterio

    from eov.apis.web.server import overlay_png
    path = tmp_path / 'sar.tif'
    data = (np.arange(100 * 150, dtype=np.uint16).reshape(1, 100, 150) * 3)
    with rasterio.open(path, 'w', driver='GTiff', width=150, height=100, count=1,
                       dtype='uint16') as dst:
        dst.write(data)
    url, scale = overlay_png(str(path), [{'type': 'point', 'point': [75, 50]}], (150, 100))
    img = _decode_png(url)
    assert img.shape[1] == round(150 * scale) and scale >= 1
    assert (img[:10, :10, 0] == img[:10, :10, 1]).all()        # grey where nothing is drawn


def test_objects_are_described_in_words():
    """The page's table says what the numbers are (an oriented box was bare numbers)."""
    assert describe_object({'type': 'obb', 'obb': [13, 16, 8.33, 7.4, 71.62]}) == \
        'centre (13, 16), 8.3 × 7.4 px, rotated 71.6°'
    assert describe_object({'type': 'hbb', 'bbox': [1, 2.25, 30, 40]}) == \
        'x 1–30, y 2.2–40 (top-left to bottom-right)'
    assert describe_object({'type': 'point', 'point': [5, 6.5]}) == '(5, 6.5)'
    quad = describe_object({'type': 'quad', 'points': [[0, 0], [4, 0], [4, 3], [0, 3]]})
    assert quad == 'corners (0, 0) (4, 0) (4, 3) (0, 3)'
    poly = describe_object({'type': 'poly', 'points': [[i, i] for i in range(9)]})
    assert poly.endswith('… (9 corners)')


# ----------------------------------------------------------------------------- the command line

def test_serve_cli_errors_are_one_line(tmp_path, grounding_checkpoint, capsys):
    """Bad arguments: status 2 (as tools/infer.py) and one ``error:`` line naming the file."""
    serve = load_tool('serve')
    ckpt, _ = grounding_checkpoint
    bad = tmp_path / 'bad.pth'
    bad.write_text('not a checkpoint')
    (tmp_path / 'ckpt_dir').mkdir()
    cases = [
        ([str(tmp_path / 'nope.py'), ckpt], 'config not found'),
        ([TINY_CONFIG, str(tmp_path / 'nope.pth')], 'checkpoint not found'),
        ([TINY_CONFIG], 'a trained checkpoint is needed'),
        ([TINY_CONFIG, str(tmp_path / 'ckpt_dir')], 'ckpt_dir is a directory: expected a '
         'checkpoint file'),
        ([str(tmp_path)], 'not an exported model'),
        ([TINY_CONFIG, ckpt, '--examples', str(tmp_path / 'none')], 'examples folder'),
        ([TINY_CONFIG, ckpt, '--examples', str(bad)], 'is not a directory'),
        ([TINY_CONFIG, ckpt, '--port', '0'], '--port must be'),
        ([TINY_CONFIG, str(bad)], 'cannot load the model'),
    ]
    for argv, words in cases:
        capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            serve.main(argv)
        assert info.value.code == 2, (argv, info.value.code)
        message = capsys.readouterr().err.strip()
        assert message.startswith('error: ') and words in message, (argv, message)
        assert '\n' not in message and 'Traceback' not in message


@pytest.mark.slow
def test_serve_cli_starts_a_server(grounding_checkpoint, examples_dir):
    ckpt, _ = grounding_checkpoint
    sock = _free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen([sys.executable, 'tools/serve.py', TINY_CONFIG, ckpt, '--port',
                             str(port), '--examples', examples_dir], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                info = httpx.get(f'http://127.0.0.1:{port}/api/info', timeout=2)
                if info.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None, proc.stdout.read()
            assert time.monotonic() < deadline, 'tools/serve.py did not start'
            time.sleep(0.2)
        assert info.json()['examples'] == [EXAMPLE]
        assert 'memorised' in httpx.get(f'http://127.0.0.1:{port}/').text   # title: the model
    finally:
        proc.terminate()
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    assert f'http://127.0.0.1:{port}/' in out, out

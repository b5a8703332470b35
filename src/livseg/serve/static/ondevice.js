// On-device mode: the shipped liver network (ONNX) runs in this browser with
// onnxruntime-web (WebAssembly); the CT is read by NiiVue from the local file and never
// uploaded. Preprocessing follows the network's JSON description (livseg export): each
// axial slice in the canonical orientation (patient's right on the image's left, anterior
// at the top), HU clipped to the window and scaled to [0, 1], resized to the network's size
// with bilinear interpolation at pixel centres (as livseg.preprocess.resize_in_plane), and
// the probability resized back and thresholded at 0.5. The 3D clean-up and the tumour
// stage of the server's cascade are not run here.
"use strict";
(function () {
  let loaded = null;

  function model() {
    if (!loaded) {
      ort.env.wasm.wasmPaths = "/static/vendor/";
      loaded = (async () => {
        const description = await (await fetch("/models/liver.json")).json();
        const session = await ort.InferenceSession.create("/models/liver.onnx",
                                                          { executionProviders: ["wasm"] });
        return { session, description };
      })();
    }
    return loaded;
  }

  function axisWeights(nIn, nOut) {
    const low = new Int32Array(nOut), high = new Int32Array(nOut), w = new Float32Array(nOut);
    for (let i = 0; i < nOut; i++) {
      const source = Math.max((i + 0.5) * (nIn / nOut) - 0.5, 0);
      low[i] = Math.min(Math.floor(source), nIn - 1);
      high[i] = Math.min(low[i] + 1, nIn - 1);
      w[i] = source - low[i];
    }
    return { low, high, w };
  }

  // bilinear resize of an (h, w) image to (H, W), written into out at offset
  function resize(src, h, w, H, W, out, offset) {
    const ry = axisWeights(h, H), rx = axisWeights(w, W);
    for (let y = 0; y < H; y++) {
      const a = ry.low[y] * w, b = ry.high[y] * w, wy = ry.w[y];
      for (let x = 0; x < W; x++) {
        const l = rx.low[x], r = rx.high[x], wx = rx.w[x];
        const top = src[a + l] + (src[a + r] - src[a + l]) * wx;
        const bottom = src[b + l] + (src[b + r] - src[b + l]) * wx;
        out[offset + y * W + x] = top + (bottom - top) * wy;
      }
    }
  }

  window.livsegOnDevice = async function (nv, file, say) {
    window.livseg.state = "on-device";
    say(`reading ${file.name} in this browser ...`, 0);
    while (nv.volumes.length) nv.removeVolumeByIndex(0);
    await nv.loadFromFile(file);
    const volume = nv.volumes[0];
    const ras = volume.img2RAS();
    const [nx, ny, nz] = [volume.dimsRAS[1], volume.dimsRAS[2], volume.dimsRAS[3]];
    const slope = volume.hdr.scl_slope || 1, intercept = volume.hdr.scl_inter || 0;
    const { session, description } = await model();
    const [low, high] = description.input.window_hu;
    const [H, W] = description.input.size;
    nv.createEmptyDrawing();
    const drawing = nv.drawBitmap;
    const batch = 4, slice = new Float32Array(nx * ny), back = new Float32Array(nx * ny);
    const started = performance.now();
    let networkMs = 0, liverVoxels = 0;
    for (let z0 = 0; z0 < nz; z0 += batch) {
      const n = Math.min(batch, nz - z0);
      const input = new Float32Array(n * H * W);
      for (let k = 0; k < n; k++) {
        const plane = (z0 + k) * nx * ny;
        for (let r = 0; r < ny; r++) {  // canonical row r: RAS y = ny-1-r; column c: x = nx-1-c
          const from = plane + (ny - 1 - r) * nx;
          for (let c = 0; c < nx; c++) {
            const hu = ras[from + nx - 1 - c] * slope + intercept;
            slice[r * nx + c] = (Math.min(Math.max(hu, low), high) - low) / (high - low);
          }
        }
        resize(slice, ny, nx, H, W, input, k * H * W);
      }
      const t0 = performance.now();
      const output = await session.run({ image: new ort.Tensor("float32", input, [n, 1, H, W]) });
      networkMs += performance.now() - t0;
      const logits = output.logits.data, probability = new Float32Array(H * W);
      for (let k = 0; k < n; k++) {
        const base = k * 2 * H * W;
        for (let i = 0; i < H * W; i++) {
          probability[i] = 1 / (1 + Math.exp(logits[base + i] - logits[base + H * W + i]));
        }
        resize(probability, H, W, ny, nx, back, 0);
        const plane = (z0 + k) * nx * ny;
        for (let r = 0; r < ny; r++) {
          for (let c = 0; c < nx; c++) {
            if (back[r * nx + c] > 0.5) {
              drawing[plane + (ny - 1 - r) * nx + (nx - 1 - c)] = 2;  // the drawing's green
              liverVoxels++;
            }
          }
        }
      }
      say(`on-device liver stage: slice ${z0 + n} of ${nz}`, (z0 + n) / nz);
      await new Promise((resolve) => setTimeout(resolve, 0));  // let the page repaint
    }
    nv.refreshDrawing(true);
    nv.setDrawOpacity(Number(document.getElementById("opacity").value));
    const totalMs = performance.now() - started;
    window.livseg.onDevice = { slices: nz, networkMsPerSlice: networkMs / nz, totalMs,
                               liverVoxels, threads: ort.env.wasm.numThreads };
    say(`on-device: the liver network ran on ${nz} slices in ${(totalMs / 1000).toFixed(1)} s ` +
        `(${(networkMs / nz).toFixed(1)} ms per slice), ${liverVoxels} liver voxels; ` +
        "the CT was not uploaded", 1);
    window.livseg.state = "on-device done";
  };
})();

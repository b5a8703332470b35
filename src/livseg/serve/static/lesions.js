// The server's lesion rules (livseg.infer.cascade.Cascade.lesions) for the on-device mode,
// on (nz, ny, nx) arrays in the canonical orientation: tumour where the tumour stage's
// probability (uint8, 255 = 1) exceeds tumour_threshold; each 26-connected lesion kept whole
// when min_share_near_liver of it lies within liver_margin_mm of the liver and it holds
// min_lesion_mm3; then dropped when its mean probability is under min_lesion_probability or
// it is brighter than max_lesion_contrast_hu against the liver around it (SHELL_MM away);
// then grown over the connected voxels above grow_threshold (hysteresis), and dropped when,
// grown, it no longer lies mostly by the liver (grown_away_from_liver "drop").
// A script for the page (window.livsegLesions) and a module for node (the tests run it
// against the server's rules on the same arrays).
"use strict";
(function (root) {
  // the defaults of livseg.infer.cascade.CascadeSettings, by the same names (null: None;
  // tests/serve/test_lesions_js.py keeps them equal)
  const SETTINGS = Object.freeze({
    tumour_threshold: 0.6, min_lesion_mm3: 100, min_lesion_probability: 0.8,
    liver_smoothing_mm: 8, liver_margin_mm: 3, min_share_near_liver: 0.5,
    roi_margin_mm: 10, roi_z_margin_mm: 30, grow_threshold: 0.2,
    max_lesion_contrast_hu: -15, grown_away_from_liver: "drop", tta_uncertain_above: 0.01,
    tumour_canvas: "flipped", contrast_after_growth: true,
  });
  // livseg.infer.lesions: the surrounding liver lies between these distances (mm) from a
  // lesion; with fewer voxels than MIN_SHELL_VOXELS there, no contrast is measured
  const SHELL_MM = [2, 10], MIN_SHELL_VOXELS = 20;

  // connected components of a (nz, ny, nx) mask: 6-connected, or 26 with full
  function components(mask, nx, ny, nz, full) {
    const label = new Int32Array(mask.length), stack = new Int32Array(mask.length);
    const sizes = [0];
    const steps = [];
    for (let dz = -1; dz <= 1; dz++) for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) {
      const away = Math.abs(dx) + Math.abs(dy) + Math.abs(dz);
      if (away && (full || away === 1)) steps.push([dx, dy, dz]);
    }
    for (let i = 0; i < mask.length; i++) {
      if (!mask[i] || label[i]) continue;
      const next = sizes.length;
      let top = 0, size = 0;
      stack[top++] = i; label[i] = next;
      while (top) {
        const v = stack[--top]; size++;
        const x = v % nx, y = ((v - x) / nx) % ny, z = Math.floor(v / (nx * ny));
        for (const [dx, dy, dz] of steps) {
          const X = x + dx, Y = y + dy, Z = z + dz;
          if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz) continue;
          const u = v + dx + dy * nx + dz * nx * ny;
          if (mask[u] && !label[u]) { label[u] = next; stack[top++] = u; }
        }
      }
      sizes.push(size);
    }
    return { label, sizes };
  }

  // the offsets (dx, dy, dz) within margin mm (Euclidean), the nearest first
  function marginOffsets([sx, sy, sz], margin) {
    const offsets = [];
    const [rx, ry, rz] = [sx, sy, sz].map((s) => Math.floor(margin / s + 1e-9));
    for (let dz = -rz; dz <= rz; dz++) for (let dy = -ry; dy <= ry; dy++) for (let dx = -rx; dx <= rx; dx++) {
      const mm2 = (dx * sx) ** 2 + (dy * sy) ** 2 + (dz * sz) ** 2;
      if (mm2 > 0 && mm2 <= margin ** 2 * (1 + 1e-9)) offsets.push([dx, dy, dz, mm2]);
    }
    return offsets.sort((a, b) => a[3] - b[3]);  // most answers come early
  }

  // whether voxel i lies within the offsets' reach of a voxel of the liver
  function nearLiver(liver, i, nx, ny, nz, offsets) {
    if (liver[i]) return true;
    const x = i % nx, y = ((i - x) / nx) % ny, z = Math.floor(i / (nx * ny));
    for (const [dx, dy, dz] of offsets) {
      const X = x + dx, Y = y + dy, Z = z + dz;
      if (X < 0 || Y < 0 || Z < 0 || X >= nx || Y >= ny || Z >= nz) continue;
      if (liver[i + dx + dy * nx + dz * nx * ny]) return true;
    }
    return false;
  }

  // the 26-connected lesions of mask (in place) whose share near the liver reaches
  // min_share_near_liver and whose volume reaches minMm3; returns their labels and sizes
  function keepNearLiver(mask, liver, nx, ny, nz, spacing, settings, minMm3) {
    const voxelMm3 = spacing[0] * spacing[1] * spacing[2];
    const offsets = marginOffsets(spacing, settings.liver_margin_mm);
    const { label, sizes } = components(mask, nx, ny, nz, true);
    const near = new Float64Array(sizes.length);
    for (let i = 0; i < mask.length; i++) {
      if (label[i] && nearLiver(liver, i, nx, ny, nz, offsets)) near[label[i]] += 1;
    }
    const keep = sizes.map((size, l) => l > 0 && near[l] >= settings.min_share_near_liver * size &&
                                        size * voxelMm3 >= minMm3);
    for (let i = 0; i < mask.length; i++) mask[i] = keep[label[i]] ? 1 : 0;
    return { label, sizes, keep };
  }

  // squared Euclidean distance transform along one line (Felzenszwalb and Huttenlocher's
  // lower envelope of parabolas): d[p] = min over q of f[q] + (step * (p - q))^2, for the n
  // values at f[start + k * stride]; v and z are work arrays of n and n + 1
  function distanceLine(f, start, stride, n, step, v, z, d) {
    let k = -1;
    const at = (q) => f[start + q * stride];
    for (let q = 0; q < n; q++) {
      if (at(q) === Infinity) continue;
      if (k < 0) { k = 0; v[0] = q; z[0] = -Infinity; z[1] = Infinity; continue; }
      const meet = (p) => ((at(q) + (q * step) ** 2) - (at(p) + (p * step) ** 2)) /
                          (2 * step * (q - p));
      let s = meet(v[k]);
      while (s <= z[k]) { k--; s = meet(v[k]); }
      k++; v[k] = q; z[k] = s; z[k + 1] = Infinity;
    }
    if (k < 0) { d.fill(Infinity, 0, n); return; }
    k = 0;
    for (let p = 0; p < n; p++) {
      while (z[k + 1] < p * step) k++;
      d[p] = (step * (p - v[k])) ** 2 + at(v[k]);
    }
  }

  // squared distance (mm^2) of each voxel of an (nz, ny, nx) box to the nearest voxel of
  // seed, as scipy.ndimage.distance_transform_edt(~seed, sampling) squared
  function squaredDistance(seed, nx, ny, nz, [sx, sy, sz]) {
    const f = new Float64Array(seed.length);
    for (let i = 0; i < seed.length; i++) f[i] = seed[i] ? 0 : Infinity;
    const longest = Math.max(nx, ny, nz);
    const v = new Int32Array(longest), z = new Float64Array(longest + 1);
    const d = new Float64Array(longest);
    const pass = (n, stride, step, starts) => {
      for (const start of starts) {
        distanceLine(f, start, stride, n, step, v, z, d);
        for (let p = 0; p < n; p++) f[start + p * stride] = d[p];
      }
    };
    const starts = (count, at) => Array.from({ length: count }, (_, j) => at(j));
    pass(nx, 1, sx, starts(ny * nz, (j) => j * nx));
    pass(ny, nx, sy, starts(nx * nz, (j) => (j % nx) + Math.floor(j / nx) * nx * ny));
    pass(nz, nx * ny, sz, starts(nx * ny, (j) => j));
    return f;
  }

  // the mean HU of a lesion minus that of the liver-only voxels SHELL_MM from it (null:
  // fewer than MIN_SHELL_VOXELS there), as livseg.infer.lesions.lesion_contrast
  function contrastHu(voxels, hu, liverOnly, nx, ny, nz, spacing) {
    const reach = spacing.map((s) => Math.ceil(SHELL_MM[1] / s) + 1);  // x, y, z
    const dims = [nx, ny, nz], low = [Infinity, Infinity, Infinity], high = [-1, -1, -1];
    let lesionSum = 0;
    for (const i of voxels) {
      const at = [i % nx, Math.floor(i / nx) % ny, Math.floor(i / (nx * ny))];
      for (let a = 0; a < 3; a++) { low[a] = Math.min(low[a], at[a]); high[a] = Math.max(high[a], at[a]); }
      lesionSum += hu[i];
    }
    for (let a = 0; a < 3; a++) {
      low[a] = Math.max(low[a] - reach[a], 0); high[a] = Math.min(high[a] + reach[a] + 1, dims[a]);
    }
    const [bx, by, bz] = [0, 1, 2].map((a) => high[a] - low[a]);
    const seed = new Uint8Array(bx * by * bz);
    const inBox = (i) => (i % nx - low[0]) + (Math.floor(i / nx) % ny - low[1]) * bx +
                         (Math.floor(i / (nx * ny)) - low[2]) * bx * by;
    for (const i of voxels) seed[inBox(i)] = 1;
    const d2 = squaredDistance(seed, bx, by, bz, spacing);
    let count = 0, sum = 0;
    for (let z = 0; z < bz; z++) for (let y = 0; y < by; y++) for (let x = 0; x < bx; x++) {
      const j = x + y * bx + z * bx * by, dist = Math.sqrt(d2[j]);
      const i = (x + low[0]) + (y + low[1]) * nx + (z + low[2]) * nx * ny;
      if (dist > SHELL_MM[0] && dist <= SHELL_MM[1] && liverOnly[i]) { count++; sum += hu[i]; }
    }
    return count < MIN_SHELL_VOXELS ? null : lesionSum / voxels.length - sum / count;
  }

  // hysteresis (postprocess.grow_lesions): each kept lesion of tumour (in place) extended
  // over the voxels 26-connected to it whose probability exceeds low
  function grow(probability, tumour, nx, ny, nz, low) {
    const region = new Uint8Array(tumour.length);
    for (let i = 0; i < tumour.length; i++) {
      region[i] = tumour[i] || probability[i] > 255 * low ? 1 : 0;
    }
    const { label, sizes } = components(region, nx, ny, nz, true);
    const seeded = new Uint8Array(sizes.length);
    for (let i = 0; i < tumour.length; i++) if (tumour[i]) seeded[label[i]] = 1;
    for (let i = 0; i < tumour.length; i++) tumour[i] = seeded[label[i]];
  }

  // each lesion of ``tumour`` whose contrast to the liver around it is above maxContrast
  // cut back, in place, to the ``seeds`` inside it; whether any was
  function undoFaintGrowth(tumour, seeds, hu, liver, nx, ny, nz, spacing, maxContrast) {
    const { label, sizes } = components(tumour, nx, ny, nz, true);
    const liverOnly = new Uint8Array(liver.length), members = sizes.map(() => []);
    for (let i = 0; i < liver.length; i++) {
      liverOnly[i] = liver[i] && !tumour[i] ? 1 : 0;
      if (label[i]) members[label[i]].push(i);
    }
    let undone = false;
    for (let l = 1; l < sizes.length; l++) {
      const contrast = contrastHu(members[l], hu, liverOnly, nx, ny, nz, spacing);
      if (contrast === null || contrast <= maxContrast) continue;
      for (const i of members[l]) tumour[i] = seeds[i];
      undone = true;
    }
    return undone;
  }

  // the lesion rules on the tumour probability (uint8), the liver mask and the CT (HU), with
  // settings as SETTINGS (those not given: the defaults): the tumour mask, in place, and the
  // lesions' count, volumes (mm^3) and the voxels outside the liver
  function lesionRules(probability, hu, tumour, liver, nx, ny, nz, spacing, given = {}) {
    const settings = { ...SETTINGS, ...given };
    const voxelMm3 = spacing[0] * spacing[1] * spacing[2];
    for (let i = 0; i < tumour.length; i++) {
      tumour[i] = probability[i] > 255 * settings.tumour_threshold ? 1 : 0;
    }
    const { label, sizes, keep } = keepNearLiver(tumour, liver, nx, ny, nz, spacing, settings,
                                                 settings.min_lesion_mm3);
    const voxels = sizes.map(() => []), sums = new Float64Array(sizes.length);
    for (let i = 0; i < tumour.length; i++) {
      if (keep[label[i]]) { voxels[label[i]].push(i); sums[label[i]] += probability[i]; }
    }
    let liverOnly = null;
    const maxContrast = settings.max_lesion_contrast_hu;
    if (maxContrast !== null) {
      liverOnly = new Uint8Array(liver.length);
      for (let i = 0; i < liver.length; i++) liverOnly[i] = liver[i] && !tumour[i] ? 1 : 0;
    }
    const stays = sizes.map((size, l) => {
      if (!keep[l] || sums[l] / size / 255 < settings.min_lesion_probability) return false;
      if (liverOnly === null) return true;
      const contrast = contrastHu(voxels[l], hu, liverOnly, nx, ny, nz, spacing);
      return contrast === null || contrast <= maxContrast;
    });
    for (let i = 0; i < tumour.length; i++) tumour[i] = stays[label[i]] ? 1 : 0;
    let found = sizes.filter((size, l) => stays[l]);
    if (settings.grow_threshold !== null && found.length) {
      const seeds = settings.contrast_after_growth && maxContrast !== null ? tumour.slice() : null;
      grow(probability, tumour, nx, ny, nz, settings.grow_threshold);
      let grown = settings.grown_away_from_liver === "drop"
        ? keepNearLiver(tumour, liver, nx, ny, nz, spacing, settings, 0)
        : components(tumour, nx, ny, nz, true);
      // the contrast rule again on the grown lesions: one grown into liver as bright as its
      // own keeps only its seeds (Cascade._faint_growth_undone)
      if (seeds && undoFaintGrowth(tumour, seeds, hu, liver, nx, ny, nz, spacing, maxContrast)) {
        grown = components(tumour, nx, ny, nz, true);
      }
      found = grown.sizes.filter((size, l) => l > 0 && (!grown.keep || grown.keep[l]));
    }
    let outsideLiver = 0;
    for (let i = 0; i < tumour.length; i++) if (tumour[i] && !liver[i]) outsideLiver++;
    return { lesions: found.length, volumesMm3: found.map((size) => size * voxelMm3),
             voxels: found.reduce((a, b) => a + b, 0), outsideLiver };
  }

  // the tumour stage's box is the liver's grown by these margins (Cascade.tumour_box)
  function roiMarginsMm(settings = SETTINGS) {
    return { inPlane: settings.roi_margin_mm,
             across: settings.roi_z_margin_mm ?? settings.roi_margin_mm };
  }

  const api = { SETTINGS, components, lesionRules, roiMarginsMm, squaredDistance };
  root.livsegLesions = api;
  if (typeof module !== "undefined") module.exports = api;
})(typeof window !== "undefined" ? window : globalThis);

// livseg serve: upload, progress, NiiVue viewer, lesion table, downloads.
"use strict";

const $ = (id) => document.getElementById(id);
const LABELS = { R: [0, 0, 255], G: [0, 255, 0], B: [0, 0, 0], A: [0, 255, 255], I: [0, 1, 2],
                 labels: ["", "liver", "tumour"] };
// The viewer and on-device libraries are vendored by `make`; without them the page says so
// and shows the overlay picture and the report instead of the viewer.
const hasViewer = typeof niivue !== "undefined";
const hasOrt = typeof ort !== "undefined";
const nv = hasViewer ? new niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true,
                               isRadiologicalConvention: true,  // patient right on the left
                               multiplanarShowRender: niivue.SHOW_RENDER.ALWAYS }) : null;
const ready = hasViewer ? nv.attachToCanvas($("gl")) : Promise.resolve();
window.livseg = { nv, state: "idle", viewer: hasViewer };  // read by the browser test

function degrade() {
  $("notice").hidden = false;
  $("notice").textContent = (hasViewer ? "The on-device libraries are missing on this server"
    : "The viewer's libraries are missing on this server: results are shown as the overlay " +
      "picture and the report") + " (they are vendored by `make`, or `python " +
    "tools/vendor_web.py`); on-device mode is off.";
  if (!hasViewer) { $("views").hidden = true; $("controls").hidden = true; $("gl").hidden = true; }
  $("ondevice").disabled = true; $("ondevice").checked = false;
}
if (!hasViewer || !hasOrt) degrade();

function say(text, fraction) {
  $("message").textContent = text;
  $("progress").hidden = fraction === undefined;
  if (fraction !== undefined) $("progress").value = fraction;
}

function setView(name) {
  const types = { multi: nv.sliceTypeMultiplanar, axial: nv.sliceTypeAxial,
                  coronal: nv.sliceTypeCoronal, sagittal: nv.sliceTypeSagittal,
                  render: nv.sliceTypeRender };
  nv.setSliceType(types[name]);
  document.querySelectorAll("#views button").forEach(
    (b) => b.classList.toggle("active", b.dataset.view === name));
}

function applyWindow() {
  if (!hasViewer || !nv.volumes.length) return;
  const level = Number($("level").value), width = Number($("width").value);
  nv.volumes[0].cal_min = level - width / 2;
  nv.volumes[0].cal_max = level + width / 2;
  nv.updateGLVolume();
}

async function showResult(job) {
  await ready;
  const base = `/api/jobs/${job.id}`;
  if (hasViewer) {
    await nv.loadVolumes([
      { url: `${base}/ct.nii.gz`, colormap: "gray" },
      { url: `${base}/segmentation.nii.gz`, opacity: Number($("opacity").value) },
    ]);
    nv.volumes[1].setColormapLabel(LABELS);
    applyWindow();
  } else {
    $("picture").src = `${base}/overlay.png`; $("picture").hidden = false;
  }
  const report = await (await fetch(`${base}/report.json`)).json();
  $("summary").textContent = `liver ${report.liver_volume_ml.toFixed(1)} ml, tumour ` +
    `${report.tumour_volume_ml.toFixed(1)} ml (${report.tumour_burden_percent.toFixed(2)} % of ` +
    `the liver) in ${report.lesion_count} lesion(s); ${report.seconds.total.toFixed(1)} s on the server`;
  for (const note of report.input.notes || []) $("summary").textContent += `. Note: ${note}`;
  const body = $("lesions").querySelector("tbody");
  body.replaceChildren(...report.lesions.map((lesion) => {
    const row = document.createElement("tr");
    const [x, y, z] = lesion.centroid_mm;
    for (const cell of [lesion.id, lesion.volume_ml.toFixed(2),
                        lesion.longest_axial_diameter_mm.toFixed(1) === "0.0" ? "< 1 pixel" :
                          lesion.longest_axial_diameter_mm.toFixed(1),
                        lesion.contrast_hu == null ? "" :
                          `${lesion.density} (${lesion.contrast_hu > 0 ? "+" : ""}` +
                          `${lesion.contrast_hu.toFixed(0)} HU)`,
                        `${x.toFixed(0)}, ${y.toFixed(0)}, ${z.toFixed(0)}`]) {
      const td = document.createElement("td"); td.textContent = cell; row.append(td);
    }
    // report: LPS millimetres; NiiVue: RAS
    row.addEventListener("click", () => jumpTo([-x, -y, z]));
    return row;
  }));
  $("lesions").hidden = report.lesions.length === 0;
  $("downloads").replaceChildren(...job.files.map((name) => {
    const a = document.createElement("a");
    a.href = `${base}/${name}`; a.download = name; a.textContent = `download ${name}`;
    return a;
  }));
  window.livseg.state = "shown";
}

function jumpTo(ras) {
  if (!hasViewer) return;
  nv.scene.crosshairPos = nv.mm2frac(ras);
  nv.drawScene();
  window.livseg.jumped = ras;
}

// upload a CT as a job and wait for it; report(text, fraction) tells how it goes; the job
// when it is done, null when it was refused or failed
async function runJob(files, report) {
  const form = new FormData();
  for (const file of files) form.append("file", file, file.name);
  report(`uploading ${files.length === 1 ? files[0].name : files.length + " files"} ...`, 0);
  const response = await fetch("/api/jobs", { method: "POST", body: form });
  const answer = await response.json();
  if (response.status !== 202) { report(`refused: ${answer.detail}`); return null; }
  for (;;) {
    const job = await (await fetch(`/api/jobs/${answer.id}`)).json();
    if (job.status === "done") return job;
    if (job.status === "failed") { report(`failed: ${job.error}`); return null; }
    report(`${job.status} ...`, job.progress);
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

async function upload(files) {
  window.livseg.state = "uploading";
  const job = await runJob(files, say);
  if (!job) { window.livseg.state = "failed"; return; }
  say("done", 1);
  await showResult(job);
}

// the compare view: both scans segmented as jobs, then their lesions followed
async function compareScans() {
  const said = (text) => { $("compare-summary").textContent = text; };
  const files = [$("compare-baseline").files[0], $("compare-followup").files[0]];
  window.livseg.compare = "running";
  const ids = [];
  for (const [n, file] of files.entries()) {
    const job = await runJob([file], (text) => said(`${n ? "follow-up" : "baseline"}: ${text}`));
    if (!job) { window.livseg.compare = "failed"; return; }
    ids.push(job.id);
  }
  said("registering the livers and matching the lesions ...");
  const response = await fetch("/api/compare", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ baseline: ids[0], followup: ids[1] }) });
  const comparison = await response.json();
  if (!response.ok) { window.livseg.compare = "refused"; said(`refused: ${comparison.detail}`); return; }
  const { recist, volumetric } = comparison.response;
  const volume = volumetric.tumour_volume_ml;
  said(`${comparison.tracks.length} lesion track(s); tumour ${volume.baseline.toFixed(1)} -> ` +
       `${volume.followup.toFixed(1)} ml; RECIST 1.1: ${recist.category ?? "none"} ` +
       `(${recist.why}); volumetric: ${volumetric.category ?? "none"}; registration liver ` +
       `Dice ${comparison.registration.liver_dice.toFixed(3)}. ${comparison.disclaimer}`);
  const body = $("tracks").querySelector("tbody");
  body.replaceChildren();
  for (const t of comparison.tracks) {
    const row = body.insertRow();
    const change = t.volume_change_percent === null ? "" : ` (${t.volume_change_percent > 0 ? "+" : ""}${t.volume_change_percent.toFixed(0)} %)`;
    for (const text of [t.track, t.status + (t.event ? `, ${t.event}` : ""),
                        `${t.baseline_volume_ml.toFixed(2)} -> ${t.followup_volume_ml.toFixed(2)}${change}`,
                        `${t.baseline_diameter_mm.toFixed(1)} -> ${t.followup_diameter_mm.toFixed(1)}`,
                        t.target ? "yes" : ""]) {
      row.insertCell().textContent = String(text);
    }
  }
  $("tracks").hidden = comparison.tracks.length === 0;
  const picture = $("comparison-picture");
  picture.src = `/api/compare/${ids[0]}/${ids[1]}/comparison.png`;
  picture.hidden = false;
  window.livseg.compare = "done";
}

async function start(files) {
  if (!files.length) return;
  $("welcome").hidden = true;
  if ($("ondevice").checked) {
    await ready;
    await window.livsegOnDevice(nv, files[0], say);
  } else {
    await upload(files);
  }
}

// the packaged example CT, fetched and then treated as a file the user chose
async function startExample() {
  say("fetching the example CT ...", 0);
  const response = await fetch("/example/ct.nii.gz");
  if (!response.ok) { say(`the example CT is not there (HTTP ${response.status})`); return; }
  await start([new File([await response.blob()], "totalseg_ct_sm.nii.gz")]);
}

$("example").addEventListener("click", startExample);
for (const id of ["compare-baseline", "compare-followup"]) {
  $(id).addEventListener("change", () => {
    $("compare-run").disabled = !($("compare-baseline").files.length && $("compare-followup").files.length);
  });
}
$("compare-run").addEventListener("click", compareScans);
$("file").addEventListener("change", (e) => start([...e.target.files]));
$("folder").addEventListener("change", (e) => start([...e.target.files]));
const drop = $("drop");
drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault(); drop.classList.remove("over"); start([...e.dataTransfer.files]);
});
document.querySelectorAll("#views button").forEach(
  (b) => b.addEventListener("click", () => setView(b.dataset.view)));
$("opacity").addEventListener("input", () => {
  if (!hasViewer) return;
  if (nv.volumes.length > 1) nv.setOpacity(1, Number($("opacity").value));
  nv.setDrawOpacity(Number($("opacity").value));
});
$("level").addEventListener("input", applyWindow);
$("width").addEventListener("input", applyWindow);

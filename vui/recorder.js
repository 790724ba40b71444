// The notebook's recorder (vui/recorder.py): record from the microphone, stop, or upload a file.
// A recording reaches the kernel as raw float32 samples (base64) with the AudioContext's rate; an
// upload as the file's bytes (base64) with its name. Each new take increments `take`.

function toBase64(bytes) {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode.apply(null, bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

function render({ model, el }) {
  const box = document.createElement("div");
  box.className = "vui-recorder";
  box.style.cssText = "display:flex;gap:0.5em;align-items:center;flex-wrap:wrap;font-family:sans-serif";
  const record = document.createElement("button");
  record.textContent = "\u25CF Record";
  record.className = "vui-record";
  const stop = document.createElement("button");
  stop.textContent = "\u25A0 Stop";
  stop.className = "vui-stop";
  stop.disabled = true;
  const upload = document.createElement("input");
  upload.type = "file";
  upload.accept = "audio/*,.wav,.flac,.mp3,.ogg,.opus,.m4a,.webm";
  upload.className = "vui-upload";
  const status = document.createElement("span");
  status.className = "vui-status";
  status.textContent = model.get("message");
  box.append(record, stop, upload, status);
  el.appendChild(box);

  let context = null, stream = null, source = null, processor = null, chunks = [], started = 0;

  function send(fields) {
    for (const [name, value] of Object.entries(fields)) model.set(name, value);
    model.set("take", model.get("take") + 1);
    model.save_changes();
  }

  record.onclick = async () => {
    try {
      // Raw audio: the browser's echo cancellation, noise suppression and gain control change what the model hears.
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
      });
    } catch (err) {
      status.textContent = `No microphone (${err.name}): upload a recording instead.`;
      return;
    }
    context = new AudioContext();
    source = context.createMediaStreamSource(stream);
    processor = context.createScriptProcessor(4096, 1, 1);
    chunks = [];
    processor.onaudioprocess = (event) => chunks.push(new Float32Array(event.inputBuffer.getChannelData(0)));
    source.connect(processor);
    processor.connect(context.destination);
    started = performance.now();
    record.disabled = true;
    stop.disabled = false;
    status.textContent = "Recording\u2026 press Stop when you have finished.";
  };

  stop.onclick = async () => {
    if (!context) return;
    processor.disconnect();
    source.disconnect();
    stream.getTracks().forEach((track) => track.stop());
    const rate = context.sampleRate;
    await context.close();
    context = null;
    const total = chunks.reduce((n, c) => n + c.length, 0);
    const samples = new Float32Array(total);
    let offset = 0;
    for (const c of chunks) {
      samples.set(c, offset);
      offset += c.length;
    }
    record.disabled = false;
    stop.disabled = true;
    status.textContent = `Recorded ${(total / rate).toFixed(1)} s at ${rate} Hz: transcribing\u2026`;
    send({ recording: toBase64(new Uint8Array(samples.buffer)), sample_rate: rate, upload: "", upload_name: "" });
  };

  upload.onchange = async () => {
    const file = upload.files[0];
    if (!file) return;
    status.textContent = `Uploading ${file.name}\u2026`;
    const bytes = new Uint8Array(await file.arrayBuffer());
    send({ upload: toBase64(bytes), upload_name: file.name, recording: "", sample_rate: 0 });
    upload.value = "";
  };

  model.on("change:message", () => {
    status.textContent = model.get("message");
  });
}

export default { render };

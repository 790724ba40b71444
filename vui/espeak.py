"""eSpeak NG through ctypes: text to 22,050 Hz int16 speech, with no state kept between utterances.

eSpeak NG is the shared library shipped by the ``espeakng-loader`` wheel, called through ctypes: no
espeak-ng program and no network are needed. The library keeps synthesis state (pitch flutter phase,
gain control, echo buffers) in static variables that ``espeak_Terminate`` does not reset, so the same
text would come out slightly different depending on what was said before. Every utterance is therefore
rendered by a freshly loaded private copy of the library (about 6 ms), which makes its samples a pure
function of the text, the voice and the prosody settings.
"""

from __future__ import annotations

import _ctypes
import ctypes
import glob
import os
import shutil
import tempfile
import weakref

import numpy as np

ESPEAK_SAMPLE_RATE: int = 22050  # Hz: eSpeak NG's output rate

# --- eSpeak NG C API (speak_lib.h) --------------------------------------------------------------
AUDIO_OUTPUT_SYNCHRONOUS: int = 2  # espeak_AUDIO_OUTPUT: synthesise in the calling thread
ESPEAK_INITIALIZE_DONT_EXIT: int = 0x8000  # return an error instead of calling exit()
ESPEAK_BUFFER_MS: int = 100  # length of each block handed to the callback, milliseconds
ESPEAK_CHARS_UTF8: int = 1
POS_CHARACTER: int = 1
ESPEAK_RATE: int = 1  # espeak_PARAMETER values
ESPEAK_PITCH: int = 3
ESPEAK_RANGE: int = 4
EE_OK: int = 0

# English accents (eSpeak language voices) and voice variants (files in espeak-ng-data/voices/!v)
# that sound like a plain human reader; those missing from the installed data are left out.
ACCENTS: tuple[str, ...] = (
    "en", "en-us", "en-gb-x-rp", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc",
)
MALE_VARIANTS: tuple[str, ...] = (
    "m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "Andy", "Lee", "john", "michel", "quincy", "robert",
    "gustave", "klatt", "klatt3", "edward", "grandpa",
)
FEMALE_VARIANTS: tuple[str, ...] = (
    "f1", "f2", "f3", "f4", "f5", "Annie", "belinda", "linda", "steph", "anika", "aunty", "grandma", "Andrea",
    "shelby",
)


class EspeakError(RuntimeError):
    """libespeak-ng cannot be found, loaded, initialised or made to speak; the message says why."""



_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)
_dlclose = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary")


def espeak_paths() -> tuple[str, str]:
    """(libespeak-ng shared library, espeak-ng-data folder) from the espeakng-loader package."""
    try:  # optional wheel, imported here so that its absence is reported as an EspeakError
        import espeakng_loader
    except ImportError as exc:
        raise EspeakError(
            "eSpeak NG is not available: the Python package 'espeakng-loader' (which ships "
            "libespeak-ng and its voice data) is not installed; pip install espeakng-loader"
        ) from exc
    try:
        return espeakng_loader.get_library_path(), espeakng_loader.get_data_path()
    except Exception as exc:
        raise EspeakError(f"espeakng-loader cannot locate libespeak-ng or its data: {exc}") from exc


class EspeakSynthesizer:
    """Text to 22,050 Hz int16 speech with libespeak-ng, with no state carried between utterances.

    Each call loads a private copy of the library (made once, in a temporary folder removed by
    close()), initialises it, speaks, and unloads it, so every utterance starts from the same state.
    Raises EspeakError if the library or its data cannot be loaded or does not produce audio.
    """

    def __init__(self, library_path: str | None = None, data_path: str | None = None) -> None:
        if library_path is None or data_path is None:
            default_library, default_data = espeak_paths()
            library_path = library_path or default_library
            data_path = data_path or default_data
        self.library_path = os.fspath(library_path)
        self.data_path = os.fspath(data_path)
        if not os.path.isfile(self.library_path):
            raise EspeakError(f"libespeak-ng not found at {self.library_path}")
        for needed in ("phontab", "phondata", "en_dict"):
            if not os.path.isfile(os.path.join(self.data_path, needed)):
                raise EspeakError(
                    f"{self.data_path} is not an espeak-ng-data folder with English ({needed} is missing)"
                )
        self._tmpdir = tempfile.mkdtemp(prefix="vui-espeak-")
        self._finalizer = weakref.finalize(self, shutil.rmtree, self._tmpdir, True)
        suffix = os.path.splitext(self.library_path)[1]
        self._private_library = os.path.join(self._tmpdir, "libespeak-ng-private" + suffix)
        shutil.copyfile(self.library_path, self._private_library)
        self._chunks: list[np.ndarray] = []
        self._callback = _SynthCallback(self._collect)  # kept referenced while the library may call it
        self.accents = self._installed_accents()
        self.variants = self._installed_variants()
        if "en" not in self.accents:
            raise EspeakError(f"{self.data_path} has no English voice (lang/gmw/en)")
        probe = self.synthesize("hello", "en", rate_wpm=175, pitch=50, pitch_range=50, rand_seed=0)
        if probe.size == 0 or not np.any(probe):
            raise EspeakError(f"libespeak-ng ({self.library_path}) produced no audio for a test word")

    def _installed_accents(self) -> set[str]:
        """The ACCENTS that the data folder has a language voice for."""
        pattern = os.path.join(glob.escape(self.data_path), "lang", "**", "*")
        names = {os.path.basename(p).lower() for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)}
        return {accent for accent in ACCENTS if accent in names}

    def _installed_variants(self) -> set[str]:
        """Names of the voice variants in the data folder (voices/!v)."""
        folder = os.path.join(self.data_path, "voices", "!v")
        return set(os.listdir(folder)) if os.path.isdir(folder) else set()

    def _collect(self, wav: ctypes.POINTER(ctypes.c_short), n_samples: int, _events: int) -> int:
        """Synthesis callback: keep a copy of the `n_samples` int16 samples at `wav`."""
        if n_samples > 0 and wav:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(n_samples,)).copy())
        return 0  # 0 = carry on synthesising

    def _load(self) -> ctypes.CDLL:
        """Load and initialise a fresh instance of the private library copy."""
        try:
            lib = ctypes.CDLL(self._private_library, mode=ctypes.RTLD_LOCAL)
        except OSError as exc:
            raise EspeakError(f"cannot load libespeak-ng from {self.library_path}: {exc}") from exc
        try:
            lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
            lib.espeak_Initialize.restype = ctypes.c_int
            lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
            lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
            lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
            lib.espeak_Synth.argtypes = [
                ctypes.c_char_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                ctypes.c_void_p, ctypes.c_void_p,
            ]
            lib.espeak_Terminate.argtypes = []
        except AttributeError as exc:
            _dlclose(lib._handle)
            raise EspeakError(f"{self.library_path} is not a usable libespeak-ng: {exc}") from exc
        rate = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, ESPEAK_BUFFER_MS, self.data_path.encode(), ESPEAK_INITIALIZE_DONT_EXIT
        )
        if rate != ESPEAK_SAMPLE_RATE:
            self._unload(lib)
            raise EspeakError(
                f"espeak_Initialize failed (returned {rate}, expected a sample rate of {ESPEAK_SAMPLE_RATE} Hz) "
                f"with library {self.library_path} and data {self.data_path}"
            )
        lib.espeak_SetSynthCallback(self._callback)
        return lib

    @staticmethod
    def _unload(lib: ctypes.CDLL) -> None:
        """Terminate and unload a library instance, so the next load starts from clean static state."""
        try:
            lib.espeak_Terminate()
        finally:
            _dlclose(lib._handle)

    def synthesize(
        self, text: str, voice_name: str, rate_wpm: int, pitch: int, pitch_range: int, rand_seed: int
    ) -> np.ndarray:
        """Speak `text` with voice `voice_name` ("en-us+f2"); int16 samples at 22,050 Hz, shape (n,)."""
        if not self._finalizer.alive:
            raise EspeakError("this EspeakSynthesizer has been closed")
        lib = self._load()
        self._chunks = []
        try:
            if lib.espeak_SetVoiceByName(voice_name.encode()) != EE_OK:
                raise EspeakError(f"eSpeak has no voice {voice_name!r}")
            for parameter, value in ((ESPEAK_RATE, rate_wpm), (ESPEAK_PITCH, pitch), (ESPEAK_RANGE, pitch_range)):
                if lib.espeak_SetParameter(parameter, int(value), 0) != EE_OK:
                    raise EspeakError(f"espeak_SetParameter({parameter}, {value}) failed")
            try:  # espeak-ng >= 1.51: seeds the breath/noise generator of voices such as f2
                lib.espeak_ng_SetRandSeed.argtypes = [ctypes.c_long]
                lib.espeak_ng_SetRandSeed(int(rand_seed))
            except AttributeError:
                pass  # older library: its noise still starts from the same state, as it is freshly loaded
            data = text.encode("utf-8")
            status = lib.espeak_Synth(data, len(data) + 1, 0, POS_CHARACTER, 0, ESPEAK_CHARS_UTF8, None, None)
            if status != EE_OK or lib.espeak_Synchronize() != EE_OK:
                raise EspeakError(f"espeak_Synth failed (status {status}) for {text!r}")
        finally:
            self._unload(lib)
        chunks, self._chunks = self._chunks, []
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)

    def close(self) -> None:
        """Remove the private copy of the library."""
        self._finalizer()

    def __enter__(self) -> EspeakSynthesizer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


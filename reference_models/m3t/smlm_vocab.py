"""The SMLM's lexicon (paper §3.3, Eq. 7): one id space for text, motion codes and language prompts.

Layout (ids are contiguous, in this order)::

    [0, n_text)                           text vocabulary (see smlm_text): <s>=0, <pad>=1, </s>=2, <unk>=3,
                                          sentence pieces, spoken-language codes (en_XX, zh_CN, ...)
    for each motion stream m in (body, lhand, rhand, face):
        offset_m + k, k in [0, K_m)       FSQ code k of stream m (K_m read from the tokenizer checkpoints;
                                          both hands use the hand codebook but have their own tokens)
        offset_m + K_m                    <EOS_m>
        offset_m + K_m + 1                <BOS_m>
        offset_m + K_m + 2                <PAD_m>
    prompts                               <L_B>, <L_LH>, <L_RH>, <L_F> for every sign language L of the
                                          training datasets (sorted), e.g. <ASL_B> ... <DGS_F>

Each output head predicts over its own part only: the text head over ``[0, n_text)``, the head of stream
``m`` over ``K_m + 1`` classes, class ``k < K_m`` = code ``k`` and class ``K_m`` = ``<EOS_m>`` (so head
class ``c`` is vocabulary id ``offset_m + c``). BOS and PAD are inputs only, never predicted.

A motion stream as a token sequence (decoder input in production, encoder input in translation) is
``<L_m> <BOS_m> c_1 ... c_n <EOS_m>``: the language-modality prompt first (paper §3.3, after SOKE), then
the stream's BOS, the codes, the EOS.
"""

from __future__ import annotations

from dataclasses import dataclass

from m3t_bench.errors import UserError

#: The four sign modalities (token streams) and their prompt suffixes (paper: <ASL_B>, <ASL_LH>, ...).
MOTION_STREAMS: tuple[str, ...] = ("body", "lhand", "rhand", "face")
PROMPT_SUFFIX = {"body": "B", "lhand": "LH", "rhand": "RH", "face": "F"}
#: Tokenizer modality whose codebook each stream uses.
STREAM_CODEBOOK = {"body": "body", "lhand": "hand", "rhand": "hand", "face": "face"}
#: Sign language of the benchmarks' spoken languages (How2Sign en/ASL, CSL-Daily zh/CSL, Phoenix14T de/DGS);
#: any other language code ``xx`` is named ``XXSL``.
SIGN_LANGUAGE = {"en": "ASL", "zh": "CSL", "de": "DGS"}
#: Reserved ids at the end of each stream's block, after the codes.
EOS_OFFSET, BOS_OFFSET, PAD_OFFSET = 0, 1, 2
SPECIALS_PER_STREAM = 3


def sign_language(language: str) -> str:
    """The sign-language tag of a dataset's spoken ``language`` code (``en`` -> ``ASL``)."""
    return SIGN_LANGUAGE.get(language, f"{language.upper()}SL")


@dataclass(frozen=True)
class StreamBlock:
    """The ids of one motion stream: codes ``[offset, offset + codebook_size)``, then EOS, BOS, PAD."""

    stream: str
    offset: int
    codebook_size: int

    @property
    def eos(self) -> int:
        return self.offset + self.codebook_size + EOS_OFFSET

    @property
    def bos(self) -> int:
        return self.offset + self.codebook_size + BOS_OFFSET

    @property
    def pad(self) -> int:
        return self.offset + self.codebook_size + PAD_OFFSET

    @property
    def end(self) -> int:
        """One past the block's last id."""
        return self.offset + self.codebook_size + SPECIALS_PER_STREAM

    @property
    def head_size(self) -> int:
        """Classes of this stream's head: the codes and EOS."""
        return self.codebook_size + 1


class Vocabulary:
    """The id layout of one SMLM (see the module docstring).

    ``n_text``: size of the text vocabulary; ``codebook_sizes``: tokenizer modality (``body``, ``hand``,
    ``face``) -> codebook size; ``languages``: spoken-language codes of the training datasets.
    """

    def __init__(self, n_text: int, codebook_sizes: dict[str, int], languages: list[str]):
        if n_text < 4:
            raise ValueError(f"text vocabulary of {n_text} ids cannot hold <s>, <pad>, </s>, <unk>")
        missing = sorted({STREAM_CODEBOOK[s] for s in MOTION_STREAMS} - set(codebook_sizes))
        if missing:
            raise ValueError(f"no codebook size for {missing}")
        if not languages:
            raise ValueError("at least one language is needed for the prompt tokens")
        self.n_text = int(n_text)
        self.codebook_sizes = {m: int(codebook_sizes[m]) for m in sorted(codebook_sizes)}
        self.languages = sorted(set(languages))
        self.blocks: dict[str, StreamBlock] = {}
        offset = self.n_text
        for stream in MOTION_STREAMS:
            block = StreamBlock(stream, offset, self.codebook_sizes[STREAM_CODEBOOK[stream]])
            self.blocks[stream] = block
            offset = block.end
        self.prompt_offset = offset
        self.sign_languages = sorted({sign_language(lang) for lang in self.languages})
        self.prompts: dict[str, int] = {}
        for tag in self.sign_languages:
            for stream in MOTION_STREAMS:
                self.prompts[f"<{tag}_{PROMPT_SUFFIX[stream]}>"] = offset
                offset += 1
        self.size = offset

    # -- lookups -----------------------------------------------------------------------------------
    @property
    def n_motion(self) -> int:
        """Ids after the text vocabulary: stream blocks and prompts."""
        return self.size - self.n_text

    def prompt_ids(self, language: str) -> list[int]:
        """The four prompt ids (body, lhand, rhand, face) of a spoken ``language``; UserError if the model
        was not trained on it."""
        tag = sign_language(language)
        if tag not in self.sign_languages:
            raise UserError(f"this model knows the sign languages {', '.join(self.sign_languages)} (from the "
                            f"training datasets), not {tag} (language {language!r})", field="--dataset")
        return [self.prompts[f"<{tag}_{PROMPT_SUFFIX[s]}>"] for s in MOTION_STREAMS]

    def stream_sequence(self, stream: str, codes, language: str) -> list[int]:
        """``<L_m> <BOS_m> c_1 ... c_n <EOS_m>`` as vocabulary ids for code indices ``codes``."""
        block = self.blocks[stream]
        prompt = self.prompt_ids(language)[MOTION_STREAMS.index(stream)]
        return [prompt, block.bos, *(block.offset + int(c) for c in codes), block.eos]

    def token_names(self) -> dict[int, str]:
        """Names of the non-text ids (``<body_17>``, ``<EOS_face>``, ``<ASL_LH>`` ...), for inspection."""
        names = {}
        for stream, block in self.blocks.items():
            names.update({block.offset + k: f"<{stream}_{k}>" for k in range(block.codebook_size)})
            names.update({block.eos: f"<EOS_{stream}>", block.bos: f"<BOS_{stream}>", block.pad: f"<PAD_{stream}>"})
        names.update({i: name for name, i in self.prompts.items()})
        return names

    # -- persistence -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        return {"n_text": self.n_text, "codebook_sizes": dict(self.codebook_sizes), "languages": list(self.languages),
                "size": self.size}

    @classmethod
    def from_dict(cls, data: dict, *, file=None) -> "Vocabulary":
        try:
            vocab = cls(int(data["n_text"]), {k: int(v) for k, v in data["codebook_sizes"].items()},
                        list(data["languages"]))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UserError(f"invalid vocabulary description ({exc})", file=file, field="vocabulary") from None
        if "size" in data and data["size"] != vocab.size:
            raise UserError(f"vocabulary size {data['size']} does not match its layout ({vocab.size})", file=file,
                            field="vocabulary.size")
        return vocab

"""eov.engine.resume: which checkpoint a run resumes from, and whether it may be resumed."""
import pytest
import torch
from mmengine.registry import init_default_scope

from eov.engine.config import config_text, load_config
from eov.engine.resume import (ResumeError, check_resume, checkpoint_problem,
                               latest_good_checkpoint)
from eov.registry import MODELS

from ..conftest import TINY_CONFIG


def test_an_empty_last_checkpoint_file_falls_back_to_the_newest_complete(tmp_path):
    """A `last_checkpoint` left empty (a kill between truncating and writing it by a tool
    that does not write atomically): the newest complete iter_*.pth is used, a truncated
    newer one is skipped; with only the empty pointer, there is nothing to resume."""
    work = tmp_path / 'w'
    work.mkdir()
    (work / 'last_checkpoint').write_text('')
    assert latest_good_checkpoint(str(work)) is None
    for it in (2, 4):
        torch.save({'meta': {'iter': it}, 'state_dict': {}}, work / f'iter_{it}.pth')
    full = (work / 'iter_4.pth').read_bytes()
    (work / 'iter_6.pth').write_bytes(full[:len(full) // 2])   # cut short
    assert latest_good_checkpoint(str(work)) == str(work / 'iter_4.pth')
    assert checkpoint_problem(str(work / 'iter_6.pth')).startswith('truncated')
    assert checkpoint_problem(str(work / 'iter_4.pth')) is None
    (work / 'iter_8.pth').write_bytes(b'')
    assert checkpoint_problem(str(work / 'iter_8.pth')) == 'empty (0 bytes)'
    assert checkpoint_problem(str(work / 'nothing.pth')) == 'missing'


def test_resume_checks_the_saved_config_not_only_shapes():
    """A serializer / tokenizer change that keeps every tensor shape is still refused."""
    init_default_scope('eov')
    cfg = load_config(TINY_CONFIG)
    ckpt = {'meta': {'cfg': config_text(cfg)},
            'state_dict': MODELS.build(cfg.model).state_dict()}
    other = load_config(TINY_CONFIG, {'serializer.type': 'LocTokenSerializer',
                                      'serializer.bins': 32, 'tokenizer': '/some/tokenizer'})
    with pytest.raises(ResumeError, match=r"--resume c.pth: the vocabulary changed .*"
                       r"tokenizer: None \(eov's built-in\) -> '/some/tokenizer'"):
        check_resume(ckpt, other, 'c.pth')
    check_resume(ckpt, cfg, 'c.pth')   # unchanged: resumes
    check_resume({'state_dict': {}}, other, 'c.pth')   # no saved config: nothing to compare

//! The real Atari 2600: the Arcade Learning Environment (ALE 0.6.0, Stella inside) through the
//! `ale-sys` bindings, with the ROMs bundled in the `ale` crate.
//!
//! `ale::Ale` cannot set options, so this talks to `ale_sys` directly: sticky actions off
//! (`repeat_action_probability` 0, ALE 0.6 defaults to 0.25; the DQN paper had none), a fixed
//! emulator seed, and the logger silenced (ALE prints a banner and an MD5 warning otherwise), all
//! before the ROM is loaded, when ALE reads them. One emulator per thread: it is not `Send`.

use super::atari::Emulator;
use ale::BundledRom;
use anyhow::{bail, Context, Result};
use std::ffi::CString;
use std::os::raw::c_int;

/// Every bundled game, by its ROM name (`pong`, `breakout`, `space_invaders`, ...).
const GAMES: [BundledRom; 62] = {
    use BundledRom::*;
    [
        Adventure,
        AirRaid,
        Alien,
        Amidar,
        Assault,
        Asterix,
        Asteroids,
        Atlantis,
        BankHeist,
        BattleZone,
        BeamRider,
        Berzerk,
        Bowling,
        Boxing,
        Breakout,
        Carnival,
        Centipede,
        ChopperCommand,
        CrazyClimber,
        Defender,
        DemonAttack,
        DoubleDunk,
        ElevatorAction,
        Enduro,
        FishingDerby,
        Freeway,
        Frostbite,
        Gopher,
        Gravitar,
        Hero,
        IceHockey,
        JamesBond,
        JourneyEscape,
        Kaboom,
        Kangaroo,
        Krull,
        KungFuMaster,
        MontezumaRevenge,
        MsPacman,
        NameThisGame,
        Phoenix,
        Pitfall,
        Pong,
        Pooyan,
        PrivateEye,
        QBert,
        RiverRaid,
        RoadRunner,
        RoboTank,
        Seaquest,
        Skiing,
        SpaceInvaders,
        StarGunner,
        Tennis,
        TimePilot,
        Tutankham,
        UpNDown,
        Venture,
        VideoPinball,
        WizardOfWor,
        YarsRevenge,
        Zaxxon,
    ]
};

/// The name of a bundled game: its ROM file name without `.bin`.
fn name_of(rom: &BundledRom) -> &'static str {
    rom.filename().trim_end_matches(".bin")
}

/// The names of all bundled games.
pub fn games() -> Vec<&'static str> {
    GAMES.iter().map(name_of).collect()
}

/// Whether `name` (with `-` or `_`) is a bundled game.
pub fn is_game(name: &str) -> bool {
    find(name).is_some()
}

fn find(name: &str) -> Option<&'static BundledRom> {
    let name = name.replace('-', "_");
    GAMES.iter().find(|g| name_of(g) == name)
}

/// ALE's names of its 18 actions, by id.
const ACTION_NAMES: [&str; 18] = [
    "NOOP",
    "FIRE",
    "UP",
    "RIGHT",
    "LEFT",
    "DOWN",
    "UPRIGHT",
    "UPLEFT",
    "DOWNRIGHT",
    "DOWNLEFT",
    "UPFIRE",
    "RIGHTFIRE",
    "LEFTFIRE",
    "DOWNFIRE",
    "UPRIGHTFIRE",
    "UPLEFTFIRE",
    "DOWNRIGHTFIRE",
    "DOWNLEFTFIRE",
];

/// One emulator with one game loaded.
pub struct AleConsole {
    ptr: *mut ale_sys::ALEInterface,
}

impl AleConsole {
    /// Loads game `name` with sticky actions off and the emulator seeded with `seed`.
    pub fn new(name: &str, seed: u64) -> Result<AleConsole> {
        let Some(rom) = find(name) else {
            bail!("unknown game {name:?}: the bundled games are {}", games().join(", "));
        };
        // Silence the banner and ROM warnings; process-wide, before the first emulator.
        ale::Ale::set_logger_mode(ale::LoggerMode::Error);
        // SAFETY: ALE_new has no preconditions; a null result is checked.
        let ptr = unsafe { ale_sys::ALE_new() };
        anyhow::ensure!(!ptr.is_null(), "the Arcade Learning Environment could not be created");
        let console = AleConsole { ptr };
        let key = |k: &str| CString::new(k).expect("option names have no NUL");
        // SAFETY: `ptr` is a live emulator; the keys are NUL-terminated ALE option names (an
        // unknown key would abort inside ALE, so only these documented ones are used).
        unsafe {
            ale_sys::setFloat(ptr, key("repeat_action_probability").as_ptr(), 0.0);
            ale_sys::setInt(ptr, key("random_seed").as_ptr(), (seed % (i32::MAX as u64)) as c_int);
            ale_sys::setInt(ptr, key("frame_skip").as_ptr(), 1);
        }
        // ALE reads the game's settings from the file name, so the ROM keeps its own.
        let dir = std::env::temp_dir().join(format!("dl-showcases-rom-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let path = dir.join(rom.filename());
        std::fs::write(&path, rom.data())
            .with_context(|| format!("cannot write {}", path.display()))?;
        let c_path =
            CString::new(path.to_string_lossy().as_bytes()).context("a ROM path with NUL")?;
        // SAFETY: a live emulator and an existing ROM file of a supported game.
        unsafe { ale_sys::loadROM(ptr, c_path.as_ptr()) };
        let _ = std::fs::remove_file(&path);
        Ok(console)
    }
}

impl Drop for AleConsole {
    fn drop(&mut self) {
        // SAFETY: `ptr` came from ALE_new and is deleted once.
        unsafe { ale_sys::ALE_del(self.ptr) }
    }
}

impl Emulator for AleConsole {
    fn actions(&mut self) -> Vec<(i32, String)> {
        // SAFETY: the buffer has the size ALE reports.
        let ids = unsafe {
            let n = ale_sys::getMinimalActionSize(self.ptr).max(0) as usize;
            let mut ids = vec![0 as c_int; n];
            ale_sys::getMinimalActionSet(self.ptr, ids.as_mut_ptr());
            ids
        };
        ids.into_iter()
            .map(|id| (id, ACTION_NAMES.get(id as usize).unwrap_or(&"?").to_string()))
            .collect()
    }

    fn act(&mut self, action: i32) -> i32 {
        // SAFETY: a live emulator; `action` comes from its minimal action set.
        unsafe { ale_sys::act(self.ptr, action) }
    }

    fn game_over(&mut self) -> bool {
        // SAFETY: a live emulator.
        unsafe { ale_sys::game_over(self.ptr) }
    }

    fn lives(&mut self) -> i32 {
        // SAFETY: a live emulator.
        unsafe { ale_sys::lives(self.ptr) }
    }

    fn reset(&mut self) {
        // SAFETY: a live emulator.
        unsafe { ale_sys::reset_game(self.ptr) }
    }

    fn screen_size(&mut self) -> (usize, usize) {
        // SAFETY: a live emulator.
        unsafe {
            (
                ale_sys::getScreenHeight(self.ptr) as usize,
                ale_sys::getScreenWidth(self.ptr) as usize,
            )
        }
    }

    fn save_state(&mut self) -> Result<Vec<u8>> {
        // SAFETY: a live emulator; the cloned state is encoded into a buffer of the length ALE
        // reports and deleted once.
        unsafe {
            let state = ale_sys::cloneSystemState(self.ptr);
            anyhow::ensure!(!state.is_null(), "ALE could not clone its state");
            let len = ale_sys::encodeStateLen(state).max(0) as usize;
            let mut bytes = vec![0u8; len];
            ale_sys::encodeState(state, bytes.as_mut_ptr().cast(), len as c_int);
            ale_sys::deleteState(state);
            Ok(bytes)
        }
    }

    fn load_state(&mut self, bytes: &[u8]) -> Result<()> {
        let len = c_int::try_from(bytes.len()).context("a saved emulator state too large")?;
        // SAFETY: ALE decodes the bytes it encoded (a length-checked buffer); the decoded
        // state is restored into a live emulator and deleted once.
        unsafe {
            let state = ale_sys::decodeState(bytes.as_ptr().cast(), len);
            anyhow::ensure!(!state.is_null(), "ALE could not decode the saved state");
            ale_sys::restoreSystemState(self.ptr, state);
            ale_sys::deleteState(state);
        }
        Ok(())
    }

    fn screen_rgb(&mut self, out: &mut [u8]) {
        let (h, w) = self.screen_size();
        assert!(out.len() >= h * w * 3, "screen buffer too small");
        // SAFETY: `out` holds at least height x width x 3 bytes, what ALE writes.
        unsafe { ale_sys::getScreenRGB(self.ptr, out.as_mut_ptr()) }
    }
}

// Notifications while the tab is hidden: a short chime made with WebAudio (no sound file)
// and, with the agent's permission, a desktop notification. Both carry text only.

let audio = null;

export function chime() {
  try {
    audio ||= new AudioContext();
    if (audio.state === "suspended") audio.resume();
    const now = audio.currentTime;
    for (const [i, freq] of [880, 1320].entries()) {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.type = "sine";
      osc.frequency.value = freq;
      gain.gain.setValueAtTime(0.0001, now + i * 0.12);
      gain.gain.exponentialRampToValueAtTime(0.2, now + i * 0.12 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + i * 0.12 + 0.35);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + i * 0.12);
      osc.stop(now + i * 0.12 + 0.4);
    }
  } catch {
    // no audio device: the desktop notification still says it
  }
}

export function canAskPermission() {
  return "Notification" in globalThis && Notification.permission === "default";
}

export async function askPermission() {
  if (!("Notification" in globalThis)) return "denied";
  return Notification.requestPermission();
}

/** Chime and notify, only while the console is not in front of the agent. */
export function notify(title, body, onClick) {
  if (!document.hidden) return false;
  chime();
  if ("Notification" in globalThis && Notification.permission === "granted") {
    const n = new Notification(title, { body: String(body).slice(0, 140), tag: "causette" });
    n.addEventListener("click", () => {
      window.focus();
      onClick?.();
      n.close();
    });
  }
  return true;
}

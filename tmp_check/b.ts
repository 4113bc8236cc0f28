const a = await navigator.gpu.requestAdapter();
console.log(JSON.stringify(a?.info), a?.info?.vendor);
const d = await a!.requestDevice();
const maps = Deno.readTextFileSync("/proc/self/maps");
console.log("EGL mapped:", maps.includes("EGL"), "lvp:", maps.includes("lvp") , "vulkan:", maps.includes("libvulkan"));

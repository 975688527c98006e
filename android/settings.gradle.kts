// The Android library (AAR) of refundkit: the generated Kotlin bindings from
// ../kotlin plus the Rust library for four ABIs (scripts/build-android).
pluginManagement {
    repositories {
        google()
        mavenCentral()
        gradlePluginPortal()
    }
}

dependencyResolutionManagement {
    repositories {
        google()
        mavenCentral()
    }
}

rootProject.name = "refundkit-android"

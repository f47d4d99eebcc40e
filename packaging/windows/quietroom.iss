; Inno Setup script for Quietroom on Windows (UNTESTED here: see docs/install.md).
; Built by .github/workflows/installers.yml after PyInstaller has written dist\quietroom\:
;   iscc /DAppVersion=0.1.0 packaging\windows\quietroom.iss
; Installs per user by default (no administrator rights; Program Files only when the person
; chooses "for all users"), adds a Start-menu entry for quietroomw.exe (no console window), and
; puts quietroom.exe (the command line) on the user's PATH if asked. Uninstalling never removes
; the vault, which lives in %LOCALAPPDATA%\quietroom (platformdirs), not in the program folder.

#ifndef AppVersion
  #define AppVersion "0.0.0"
#endif
#define SourceDir "..\..\dist\pyinstaller\quietroom"

[Setup]
AppId={{6E4B7C2A-3F1D-4E8B-9A55-0C7D1E2F3A4B}
AppName=Quietroom
AppVersion={#AppVersion}
AppPublisher=Quietroom contributors
DefaultDirName={autopf}\Quietroom
DefaultGroupName=Quietroom
DisableProgramGroupPage=yes
PrivilegesRequired=lowest
PrivilegesRequiredOverridesAllowed=dialog
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
OutputDir=..\..\dist
OutputBaseFilename=quietroom-{#AppVersion}-windows-x64-setup
SetupIconFile=quietroom.ico
UninstallDisplayIcon={app}\quietroomw.exe
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesEnvironment=yes
; File times are stored in UTC, so the installed times do not depend on the build machine's zone.
TimeStampsInUTC=yes
; Signing: the workflow passes /Ssigntool=... when a certificate is configured.
#ifdef SignTool
SignTool=signtool
SignedUninstaller=yes
#endif

[Languages]
Name: "english"; MessagesFile: "compiler:Default.isl"
Name: "french"; MessagesFile: "compiler:Languages\French.isl"
Name: "german"; MessagesFile: "compiler:Languages\German.isl"
Name: "spanish"; MessagesFile: "compiler:Languages\Spanish.isl"

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked
Name: "addtopath"; Description: "Add the quietroom command to PATH"; Flags: unchecked

[Files]
Source: "{#SourceDir}\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs

[Icons]
Name: "{group}\Quietroom"; Filename: "{app}\quietroomw.exe"
Name: "{autodesktop}\Quietroom"; Filename: "{app}\quietroomw.exe"; Tasks: desktopicon

[Registry]
Root: HKCU; Subkey: "Environment"; ValueType: expandsz; ValueName: "Path"; ValueData: "{olddata};{app}"; Tasks: addtopath; Check: NeedsAddPath(ExpandConstant('{app}'))

[Run]
Filename: "{app}\quietroomw.exe"; Description: "{cm:LaunchProgram,Quietroom}"; Flags: nowait postinstall skipifsilent

[Code]
function NeedsAddPath(Dir: string): Boolean;
var
  Paths: string;
begin
  if not RegQueryStringValue(HKEY_CURRENT_USER, 'Environment', 'Path', Paths) then
  begin
    Result := True;
    exit;
  end;
  Result := Pos(';' + Uppercase(Dir) + ';', ';' + Uppercase(Paths) + ';') = 0;
end;
